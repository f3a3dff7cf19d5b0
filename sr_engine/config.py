"""Strict config dataclasses: the only schema of engine parameters.

Subclass `StrictConfig` with a `@dataclass`. `from_dict` rejects unknown keys and wrong
types, recurses into nested config dataclasses and runs `validate()`; `to_dict` gives
plain JSON/TOML-safe data; `with_overrides(["train.lr=1e-3"])` applies CLI `--set`s
whose values are parsed as TOML literals (bare words are taken as strings).
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Self, Union, get_args, get_origin, get_type_hints

from sr_engine.errors import ConfigError


class StrictConfig:
    """Mixin for dataclasses that are parsed strictly from dicts / TOML."""

    def validate(self) -> None:
        """Override to check cross-field constraints; raise ConfigError."""

    def __post_init__(self) -> None:
        self.validate()

    # -- (de)serialisation -------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "") -> Self:
        if not isinstance(data, Mapping):
            got = type(data).__name__
            raise ConfigError(f"{where or cls.__name__}: expected a table, got {got}")
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ConfigError(
                f"unknown key{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(_dotted(where, k) for k in unknown)}; allowed: {', '.join(fields)}"
            )
        hints = get_type_hints(cls)
        kwargs = {k: _coerce(hints[k], v, _dotted(where, k)) for k, v in data.items()}
        try:
            return cls(**kwargs)
        except TypeError as exc:  # a required field is missing
            raise ConfigError(f"{where or cls.__name__}: {exc}") from None

    @classmethod
    def from_toml(cls, path: str | Path) -> Self:
        return cls.from_dict(load_toml(Path(path)))

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    def with_overrides(self, overrides: Sequence[str]) -> Self:
        data = self.to_dict()
        for item in overrides:
            key, sep, raw = item.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"override {item!r} is not of the form key=value")
            _set_dotted(data, key.strip().split("."), parse_value(raw.strip()), item)
        return type(self).from_dict(data)


def load_toml(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a recipe; `extends = "other.toml"` (beside it) starts from that recipe's keys.

    Tables merge key by key and the extending file wins, so a later training stage states only
    what it changes (steps, seed, ...) and every stage stays a recipe file of its own.
    """
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        via = f" (extended by {_seen[-1]})" if _seen else ""
        raise ConfigError(f"recipe not found: {path}{via}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    base = data.pop("extends", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"{path}: extends must be a file name, got {base!r}")
    if path.resolve() in _seen:
        raise ConfigError(f"{path}: extends loops back to itself")
    parent = load_toml(path.parent / base, (*_seen, path.resolve()))
    return _merge(parent, data)


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        both = isinstance(value, Mapping) and isinstance(out.get(key), Mapping)
        out[key] = _merge(out[key], value) if both else value
    return out


def parse_value(raw: str) -> Any:
    """Parse a `--set` value as a TOML literal; anything that is not one is a string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _dotted(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _set_dotted(data: dict[str, Any], keys: list[str], value: Any, item: str) -> None:
    node = data
    for k in keys[:-1]:
        if not isinstance(node.get(k), dict):
            raise ConfigError(f"override {item!r}: {k!r} is not a section")
        node = node[k]
    if keys[-1] not in node:
        raise ConfigError(f"override {item!r}: unknown key {'.'.join(keys)!r}")
    node[keys[-1]] = value


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _coerce(tp: Any, value: Any, where: str) -> Any:  # noqa: C901 - one switch over type forms
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        if len(errors) == 1:
            raise ConfigError(errors[0])
        raise ConfigError(f"{where}: {value!r} fits none of {tp}")
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(f"{where}: {value!r} is not one of {list(get_args(tp))}")
        return value
    if isinstance(tp, type) and issubclass(tp, StrictConfig):
        return tp.from_dict(value, where=where)
    if origin in (list, tuple, Sequence, typing.Sequence):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            pairs = enumerate(zip(args, value, strict=True))
            return tuple(_coerce(a, v, f"{where}[{i}]") for i, (a, v) in pairs)
        item = args[0] if args else Any
        out = [_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin in (dict, Mapping, typing.Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        _, vt = get_args(tp) or (str, Any)
        return {str(k): _coerce(vt, v, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if tp is Path:
        if not isinstance(value, (str, Path)):
            raise ConfigError(f"{where}: expected a path, got {value!r}")
        return Path(value)
    raise ConfigError(f"{where}: unsupported config type {tp!r}")  # a programming error


def check(cond: bool, message: str) -> None:
    """Raise ConfigError(message) unless cond; for `validate()` bodies."""
    if not cond:
        raise ConfigError(message)
