"""Strict config dataclasses: unknown keys, wrong types and bad overrides are errors."""

from dataclasses import dataclass, field
from typing import Literal

import pytest

from sr_engine.config import StrictConfig, check, parse_value
from sr_engine.errors import ConfigError


@dataclass
class Inner(StrictConfig):
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)


@dataclass
class Outer(StrictConfig):
    name: str = "x"
    steps: int = 10
    mode: Literal["a", "b"] = "a"
    folders: list[str] = field(default_factory=list)
    hparams: dict[str, int] = field(default_factory=dict)
    val: str | None = None
    optim: Inner = field(default_factory=Inner)

    def validate(self) -> None:
        check(self.steps > 0, f"steps must be positive, got {self.steps}")


def test_round_trip_and_nested():
    cfg = Outer.from_dict({"steps": 5, "folders": ["a"], "optim": {"lr": 1, "betas": [0.5, 0.6]}})
    assert cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float)
    assert cfg.optim.betas == (0.5, 0.6)
    assert Outer.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("data, needle", [
    ({"stepz": 1}, "unknown key stepz"),
    ({"optim": {"lrr": 1}}, "optim.lrr"),
    ({"steps": "5"}, "steps: expected an integer"),
    ({"steps": True}, "expected an integer"),
    ({"mode": "c"}, "not one of"),
    ({"optim": {"betas": [1.0]}}, "expected 2 items"),
    ({"steps": 0}, "steps must be positive"),
    ({"folders": "a"}, "expected a list"),
])
def test_bad_values_are_config_errors(data, needle):
    with pytest.raises(ConfigError, match=needle):
        Outer.from_dict(data)


def test_overrides_parse_toml_literals():
    cfg = Outer().with_overrides(["steps=7", "optim.lr=2e-4", "name=hello", "val=\"x y\"",
                                  "folders=['p', 'q']"])
    assert (cfg.steps, cfg.optim.lr, cfg.name, cfg.val, cfg.folders) == (7, 2e-4, "hello", "x y",
                                                                         ["p", "q"])


@pytest.mark.parametrize("item, needle", [
    ("steps", "key=value"), ("nope=1", "unknown key"), ("steps.x=1", "not a section"),
    ("steps=-1", "positive"),
])
def test_bad_overrides(item, needle):
    with pytest.raises(ConfigError, match=needle):
        Outer().with_overrides([item])


def test_parse_value():
    assert parse_value("3") == 3 and parse_value("true") is True and parse_value("abc") == "abc"


def test_from_toml_reports_path(tmp_path):
    bad = tmp_path / "r.toml"
    bad.write_text("steps = [")
    with pytest.raises(ConfigError, match="invalid TOML"):
        Outer.from_toml(bad)
    with pytest.raises(ConfigError, match="not found"):
        Outer.from_toml(tmp_path / "missing.toml")


def test_extends_merges_tables_key_by_key(tmp_path):
    (tmp_path / "base.toml").write_text(
        'steps = 5\nfolders = ["a", "b"]\nhparams = { x = 1, y = 2 }\n[optim]\nlr = 0.5\n')
    (tmp_path / "mid.toml").write_text('extends = "base.toml"\nhparams = { y = 3 }\n')
    (tmp_path / "top.toml").write_text(
        'extends = "mid.toml"\nfolders = ["c"]\n[optim]\nbetas = [0.1, 0.2]\n')
    cfg = Outer.from_toml(tmp_path / "top.toml")
    assert cfg.steps == 5 and cfg.folders == ["c"]  # scalars inherited, arrays replaced
    assert cfg.hparams == {"x": 1, "y": 3}  # tables merged, the extending file wins
    assert cfg.optim.lr == 0.5 and cfg.optim.betas == (0.1, 0.2)


@pytest.mark.parametrize(("files", "needle"), [
    ({"r.toml": 'extends = "gone.toml"'}, r"gone.toml \(extended by .*r.toml\)"),
    ({"r.toml": "extends = 3"}, "extends must be a file name"),
    ({"r.toml": 'extends = "s.toml"', "s.toml": 'extends = "r.toml"'}, "loops back"),
])
def test_bad_extends(tmp_path, files, needle):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=needle):
        Outer.from_toml(tmp_path / "r.toml")
