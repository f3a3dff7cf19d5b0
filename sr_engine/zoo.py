"""From a name to a ready model: registry ids, shipped/trained weights, checkpoint paths.

Weights are looked up as `{arch}_x{scale}.safetensors` in the folders of the environment
variable `SR_ENGINE_WEIGHTS` (os.pathsep-separated, searched first), then in the package's
`sr_engine/weights/`. Non-trainable archs (`bicubic`) need no weights at all.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from sr_engine.checkpoint import TORCH_SUFFIXES, CheckpointMeta, load_checkpoint, read_meta
from sr_engine.errors import CheckpointError, ConfigError, EngineError, MissingWeightsError
from sr_engine.registry import ArchSpec, create_model, get_spec

WEIGHTS_ENV = "SR_ENGINE_WEIGHTS"
SHIPPED_WEIGHTS = Path(__file__).resolve().parent / "weights"
CHECKPOINT_SUFFIXES = (".safetensors", *TORCH_SUFFIXES)
# A checkpoint id as docs/RESULTS.md and the weight files name it: `edsr_x2` = edsr at x2.
_CHECKPOINT_ID = re.compile(r"(?P<arch>\w+?)_x(?P<scale>\d+)")
# Headers of listed checkpoints, re-read only when a file's stamp (mtime, size, inode)
# changes: the web lists them on every submission, and parsing 16 headers took ~15 ms.
_META_CACHE: dict[Path, tuple[tuple[int, int, int], CheckpointMeta]] = {}


@dataclass
class LoadedModel:
    """A model ready for inference: `module` is in eval mode, frozen and on `device`.

    `module(lr)` maps (N, C, h, w) float in [0, 1] to (N, C, scale*h, scale*w), C being
    `spec.channels`. `meta` is None for models built without weights (bicubic).
    """

    module: nn.Module
    spec: ArchSpec
    scale: int
    hparams: dict
    meta: CheckpointMeta | None
    name: str
    device: torch.device
    # What inference calls, per precision (eager or frozen: sr_engine.inference.fast).
    runnables: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def frames(self) -> int:
        """Consecutive frames the module takes (video models), 1 for image models."""
        return self.spec.frames(self.hparams)

    @property
    def in_channels(self) -> int:
        """Channels of the module's input: the colour channels of each of its frames."""
        return self.spec.channels * self.frames


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """A torch device from a name; "auto" picks cuda when available, else cpu.

    Asking for CUDA where there is none is an EngineError (one line).
    """
    if isinstance(name, torch.device):
        device = name
    elif name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            device = torch.device(name)
        except RuntimeError:
            raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EngineError(f"device {name!s} asked for, but CUDA is not available here")
    return device


def weights_dirs() -> list[Path]:
    """Where weights are looked for, in order: $SR_ENGINE_WEIGHTS folders, then shipped."""
    extra = [Path(p).expanduser() for p in os.environ.get(WEIGHTS_ENV, "").split(os.pathsep)
             if p.strip()]
    return [*extra, SHIPPED_WEIGHTS]


def available_checkpoints() -> list[tuple[Path, CheckpointMeta]]:
    """Every readable `.safetensors` checkpoint in `weights_dirs()` (headers only)."""
    found = []
    for folder in weights_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.safetensors")):
            try:
                found.append((path, _listed_meta(path)))
            except (CheckpointError, FileNotFoundError):
                continue  # a stray or half-copied file must not break the listing
    return found


def _listed_meta(path: Path) -> CheckpointMeta:
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
    cached = _META_CACHE.get(path)
    if cached is None or cached[0] != stamp:
        cached = _META_CACHE[path] = (stamp, read_meta(path))
    return cached[1]


def load_model(name_or_path: str | Path, *, scale: int | None = None,
               device: str | torch.device = "cpu") -> LoadedModel:
    """A registry id (`bicubic`, `edsr`, ...), a checkpoint id (`edsr_x2`) or a checkpoint
    path -> LoadedModel.

    Paths are Path objects, existing files, or names ending in .safetensors/.pth/.pt; for
    them and for checkpoint ids `scale` may be None or must equal theirs. Registry ids need
    `scale`; trainable ones load `{arch}_x{scale}.safetensors` from `weights_dirs()` or raise
    MissingWeightsError; unknown names raise UnknownModelError.
    """
    dev = resolve_device(device)
    if _is_path(name_or_path):
        return _from_checkpoint(Path(name_or_path), scale, dev)
    name, scale = _split_id(str(name_or_path), scale)
    spec = get_spec(name)
    if spec.kind == "discriminator":
        raise ConfigError(f"{spec.id} is a {spec.kind}, not an upscaling model")
    if scale is None:
        raise ConfigError(f"{spec.id}: give a scale, one of {list(spec.scales)}")
    spec.check_scale(scale)
    if spec.trainable:
        path = _find_weights(spec.id, scale)
        loaded = _from_checkpoint(path, scale, dev)
        if loaded.spec.id != spec.id:
            raise CheckpointError(f"{path} holds a {loaded.spec.id} model, not {spec.id}")
        return loaded
    module = create_model(spec.id, scale=scale)
    return _ready(module, spec, scale, spec.resolve_hparams(), None, spec.id, dev)


def own_scale(name_or_path: str | Path, default: int = 4) -> int:
    """The scale a model name implies: a checkpoint id's (`espcn_x2` -> 2), a checkpoint
    file's (its header), else `default` (a bare registry id such as `bicubic`)."""
    if _is_path(name_or_path):
        return read_meta(Path(name_or_path)).scale
    match = _CHECKPOINT_ID.fullmatch(str(name_or_path))
    return int(match["scale"]) if match else default


def checkpoint_id(arch: str, scale: int) -> str:
    """`edsr_x2`: how weight files, ship cards and docs/RESULTS.md name a model; `load_model`
    takes it back."""
    return f"{arch}_x{scale}"


def _split_id(name: str, scale: int | None) -> tuple[str, int | None]:
    match = _CHECKPOINT_ID.fullmatch(name)
    if match is None:
        return name, scale
    own = int(match["scale"])
    if scale is not None and scale != own:
        raise ConfigError(f"{name} is a x{own} model, not x{scale}")
    return match["arch"], own


def _is_path(name: str | Path) -> bool:
    if isinstance(name, Path):
        return True
    return name.endswith(CHECKPOINT_SUFFIXES) or Path(name).is_file()


def _find_weights(arch: str, scale: int) -> Path:
    filename = f"{checkpoint_id(arch, scale)}.safetensors"
    for folder in weights_dirs():
        if (folder / filename).is_file():
            return folder / filename
    recipe = Path(__file__).parent / "recipes" / f"{arch}_x{scale}.toml"
    how = f"train them with: sr-engine train sr_engine/recipes/{recipe.name}" \
        if recipe.is_file() else "none are shipped yet"
    raise MissingWeightsError(f"no trained weights for {arch} x{scale}; {how} (or pass "
                              "--model PATH.safetensors)")


def _from_checkpoint(path: Path, scale: int | None, device: torch.device) -> LoadedModel:
    module, meta = load_checkpoint(path, device=device)
    if scale is not None and scale != meta.scale:
        raise ConfigError(f"{path.name} is a x{meta.scale} model, not x{scale}")
    spec = get_spec(meta.arch)
    if spec.kind == "discriminator":
        raise ConfigError(f"{path.name} holds a {spec.kind}, not an upscaling model")
    return _ready(module, spec, meta.scale, meta.hparams, meta, meta.name or path.stem, device)


def _ready(module: nn.Module, spec: ArchSpec, scale: int, hparams: dict,
           meta: CheckpointMeta | None, name: str, device: torch.device) -> LoadedModel:
    module = module.to(device).eval().requires_grad_(False)
    return LoadedModel(module=module, spec=spec, scale=scale, hparams=hparams, meta=meta,
                       name=name, device=device)


__all__ = ["LoadedModel", "available_checkpoints", "checkpoint_id", "load_model",
           "resolve_device", "weights_dirs"]
