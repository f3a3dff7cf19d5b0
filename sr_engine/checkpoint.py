"""Weights on disk: a `.safetensors` file whose header says what the weights are.

The header metadata key "sr_engine" holds the JSON of a `CheckpointMeta` (arch id, scale,
hyperparameters, colour mode, recipe, data fingerprint, metrics, engine version, the colour
fix the model wants), so a file can be rebuilt into its model with nothing else. Loading never
unpickles arbitrary objects: legacy `.pth`/`.pt` files go through
`torch.load(weights_only=True)` and must be a plain `{"meta": {...}, "state_dict": {...}}`
dict.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import Tensor, nn

from sr_engine import __version__
from sr_engine.config import StrictConfig, check
from sr_engine.errors import CheckpointError, EngineError
from sr_engine.published import published
from sr_engine.registry import create_model, get_spec

META_KEY = "sr_engine"
TORCH_SUFFIXES = (".pth", ".pt")


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class CheckpointMeta(StrictConfig):
    """What a checkpoint holds. `hparams` is stored fully resolved (defaults and `variant`
    expanded), so a later change of an arch's defaults cannot change an old checkpoint.
    `color_fix` is what upscaling with color_fix "auto" applies (sr_engine.inference.colorfix):
    "none" for PSNR-trained models, whose colours are right; a model trained on perceptual or
    adversarial losses, whose colours drift, asks for "hist" or "meanstd" here."""

    arch: str
    scale: int
    hparams: dict[str, Any]
    color: Literal["y", "rgb"]
    name: str = ""
    recipe: dict[str, Any] = field(default_factory=dict)
    data_fingerprint: str = ""
    # The loss network of a perceptual model (PerceptualLoss.describe()): which VGG19 weights
    # (file or random:SEED), their sha256 and the layers; empty for pixel-loss models.
    feature_network: dict[str, str] = field(default_factory=dict)
    step: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    engine_version: str = __version__
    created: str = field(default_factory=_utc_now)
    notes: str = ""
    color_fix: Literal["none", "hist", "meanstd"] = "none"

    def validate(self) -> None:
        spec = get_spec(self.arch)
        spec.check_scale(self.scale)
        self.hparams = spec.resolve_hparams(self.hparams)
        check(self.color == spec.color,
              f"checkpoint colour {self.color!r} does not match {self.arch}'s {spec.color!r}")
        check(self.step >= 0, f"step must be >= 0, got {self.step}")
        check(self.color_fix in ("none", "hist", "meanstd"),
              f"color_fix must be none, hist or meanstd, got {self.color_fix!r}")

    def summary(self) -> str:
        """The validation figures as model lists show them, beside the paper's where it
        published some for that set: 'Set5 psnr 36.17 ssim 0.9510 (paper 36.66 / 0.9542)'."""
        figures = " ".join(f"{k} {v:.{2 if k == 'psnr' else 4}f}"
                           for k, v in sorted(self.metrics.items()))
        val = (self.recipe.get("data") or {}).get("val")
        if not (val and figures):
            return figures
        name = Path(val).name
        text = f"{name} {figures}"
        paper = published(self.arch, name, self.scale)
        if paper is None:
            return text
        psnr, ssim = paper
        return f"{text} (paper {psnr:.2f}" + (f" / {ssim:.4f})" if ssim is not None else ")")

    @classmethod
    def for_arch(cls, arch: str, *, scale: int, hparams: Mapping[str, Any] | None = None,
                 **fields: Any) -> CheckpointMeta:
        """A meta whose colour comes from the arch's spec; other fields as keywords."""
        return cls(arch=arch, scale=scale, hparams=dict(hparams or {}),
                   color=get_spec(arch).color, **fields)


def save_checkpoint(path: str | Path, module: nn.Module, meta: CheckpointMeta) -> Path:
    """Write `module`'s state dict (CPU, contiguous, floats as fp32) and `meta` atomically.

    The weights must fit `create_model(meta.arch, scale=meta.scale, **meta.hparams)`, so
    every saved file loads back. The file appears complete or not at all (temp + rename).
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(f"checkpoints are written as .safetensors, not {path.name!r}")
    state = _export_state(module)
    with torch.device("meta"):  # only shapes are compared: no memory, no init cost
        reference = create_model(meta.arch, scale=meta.scale, **meta.hparams)
    _check_state(reference.state_dict(), state, f"cannot save {path.name}")
    header = {META_KEY: json.dumps(meta.to_dict())}
    _atomic_write_bytes(path, safetensors_bytes(state, metadata=header))
    return path


def read_meta(path: str | Path) -> CheckpointMeta:
    """The checkpoint's description; reads only the header of a `.safetensors` file."""
    path = _existing(path)
    if path.suffix in TORCH_SUFFIXES:
        return _read_torch(path)[0]
    try:
        with safe_open(str(path), framework="pt") as fh:
            header = fh.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({_line(exc)})") from None
    if META_KEY not in header:
        raise CheckpointError(f"{path}: no {META_KEY!r} metadata; not an SR Studio checkpoint")
    try:
        data = json.loads(header[META_KEY])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: corrupt metadata JSON ({_line(exc)})") from None
    return _parse_meta(data, path)


def load_checkpoint(path: str | Path, *,
                    device: str | torch.device = "cpu") -> tuple[nn.Module, CheckpointMeta]:
    """Rebuild the model a checkpoint describes and load its weights (strictly).

    Returns the module in eval mode on `device` (fp32) and its meta. Missing or corrupt
    files and weights that do not fit the described arch raise CheckpointError.
    """
    path = _existing(path)
    if path.suffix in TORCH_SUFFIXES:
        meta, state = _read_torch(path)
    else:
        meta = read_meta(path)
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: corrupt tensor data ({_line(exc)})") from None
    model = create_model(meta.arch, scale=meta.scale, **meta.hparams)
    _check_state(model.state_dict(), state, str(path))
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), meta


def _export_state(module: nn.Module) -> dict[str, Tensor]:
    module = getattr(module, "_orig_mod", module)  # torch.compile wrapper: save the original
    state = {}
    for key, tensor in module.state_dict().items():
        tensor = tensor.detach().to("cpu")
        if tensor.is_floating_point():
            tensor = tensor.to(torch.float32)
        # clone: safetensors refuses tensors that share storage (tied or viewed weights)
        state[key] = tensor.contiguous().clone()
    return state


def _check_state(expected: Mapping[str, Tensor], got: Mapping[str, Tensor], where: str) -> None:
    """One-line CheckpointError naming the first mismatching keys or shapes."""
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    shapes = [f"{k} {tuple(got[k].shape)} != {tuple(v.shape)}"
              for k, v in expected.items() if k in got and got[k].shape != v.shape]
    problems = [f"{label} {items[:3]}{' ...' if len(items) > 3 else ''}"
                for label, items in (("missing", missing), ("unexpected", unexpected),
                                     ("shape mismatch", shapes)) if items]
    if problems:
        raise CheckpointError(f"{where}: weights do not fit the arch: {'; '.join(problems)}")


def _read_torch(path: Path) -> tuple[CheckpointMeta, dict[str, Tensor]]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling failure is a refusal, never a code execution
        raise CheckpointError(f"{path}: not loadable with weights_only=True ({_line(exc)})") \
            from None
    if not (isinstance(obj, dict) and set(obj) == {"meta", "state_dict"}
            and isinstance(obj["meta"], dict) and isinstance(obj["state_dict"], dict)
            and all(isinstance(t, Tensor) for t in obj["state_dict"].values())):
        raise CheckpointError(f"{path}: a .pth checkpoint must be a dict "
                              "{'meta': {...}, 'state_dict': {name: tensor}}")
    return _parse_meta(obj["meta"], path), obj["state_dict"]


def _parse_meta(data: Any, path: Path) -> CheckpointMeta:
    try:
        return CheckpointMeta.from_dict(data)
    except EngineError as exc:
        raise CheckpointError(f"{path}: bad metadata: {_line(exc)}") from None


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    return path


def _atomic_write_bytes(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _line(exc: BaseException) -> str:
    """The first line of an exception's message: errors here stay one line long."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["META_KEY", "CheckpointMeta", "load_checkpoint", "read_meta", "save_checkpoint"]
