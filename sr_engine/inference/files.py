"""`upscale_file` / `upscale_files`: decode, upscale, save; what the CLI and the web worker call."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sr_engine.data.io import IMAGE_SUFFIXES, load_image, save_image
from sr_engine.errors import Cancelled, ConfigError
from sr_engine.inference.auto import resolve_precision
from sr_engine.inference.config import UpscaleConfig
from sr_engine.inference.picture import upscale_picture_counted
from sr_engine.progress import ProgressCallback, emit
from sr_engine.zoo import LoadedModel, load_model, resolve_device

# Extensions picked up when an input is a folder.
_FORMAT_SUFFIX = {"jpeg": "jpg", "tiff": "tif"}


@dataclass
class UpscaleResult:
    """What one `upscale_file` call did; sizes are (width, height) in pixels."""

    src: Path
    dst: Path
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    seconds: float
    tiles: int
    device: str
    precision: str
    model: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (paths as strings, sizes as lists)."""
        return {"src": str(self.src), "dst": str(self.dst), "input_size": list(self.input_size),
                "output_size": list(self.output_size), "seconds": self.seconds,
                "tiles": self.tiles, "device": self.device, "precision": self.precision,
                "model": self.model}


def upscale_file(src: str | Path, dst: str | Path, config: UpscaleConfig, *,
                 progress: ProgressCallback | None = None,
                 model: LoadedModel | None = None) -> UpscaleResult:
    """Upscale the image file `src` into `dst` (written atomically).

    Emits "loading" (model, then decode), "tiling" (per tile), "saving" and "done". `model`, if
    given (a worker's cached one), must have `config.scale`; otherwise `config.model` is
    loaded. On any error, including `Cancelled` from `progress`, nothing is left at `dst`.
    """
    t0 = time.monotonic()
    src, dst = Path(src), Path(dst)
    if model is None:  # first: a missing model fails before a long decode
        emit(progress, "loading", f"loading model {config.model}")
        model = _load(config)
    config = dataclasses.replace(config, precision=resolve_precision(
        config.precision, torch.device(model.device), model.name))
    emit(progress, "loading", f"decoding {src.name}")
    picture = load_image(src)
    result, tiles = upscale_picture_counted(model, picture, config, progress)
    emit(progress, "saving", f"writing {dst.name}")
    save_image(dst, result, format=config.format)
    outcome = UpscaleResult(
        src=src, dst=dst, input_size=picture.size, output_size=result.size,
        seconds=time.monotonic() - t0, tiles=tiles, device=str(model.device),
        precision=config.precision, model=model.name)
    try:
        emit(progress, "done", f"{dst.name}: {outcome.output_size[0]}x{outcome.output_size[1]}",
             metrics={"seconds": outcome.seconds})
    except Cancelled:  # cancelled at the last moment: still leave nothing behind
        dst.unlink(missing_ok=True)
        raise
    return outcome


def upscale_files(inputs: Sequence[str | Path], out_dir: str | Path, config: UpscaleConfig, *,
                  progress: ProgressCallback | None = None,
                  model: LoadedModel | None = None) -> list[UpscaleResult]:
    """Upscale files and folders (expanded to their image files, sorted) into `out_dir`.

    Outputs are named `<stem>_x<scale>.<ext>` (ext from `config.format`, else the input's).
    The model is loaded once for all files.
    """
    sources = expand_inputs(inputs)
    targets = [Path(out_dir) / output_name(p, config) for p in sources]
    if len(set(targets)) != len(targets):
        raise ConfigError("two inputs would write the same output name; upscale them separately")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    if model is None and sources:
        emit(progress, "loading", f"loading model {config.model}")
        model = _load(config)
    return [upscale_file(s, d, config, progress=progress, model=model)
            for s, d in zip(sources, targets, strict=True)]


def expand_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Files as given; folders replaced by their image files (by suffix, sorted)."""
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            paths += sorted(p for p in item.iterdir()
                            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif item.is_file():
            paths.append(item)
        else:
            raise ConfigError(f"input not found: {item}")
    return paths


def output_name(src: Path, config: UpscaleConfig) -> str:
    """`<stem>_x<scale>.<ext>`, ext from the configured format or the input's suffix."""
    if config.format:
        fmt = config.format.lower()
        return f"{src.stem}_x{config.scale}.{_FORMAT_SUFFIX.get(fmt, fmt)}"
    return f"{src.stem}_x{config.scale}{src.suffix}"


def _load(config: UpscaleConfig) -> LoadedModel:
    return load_model(config.model, scale=config.scale, device=resolve_device(config.device))

