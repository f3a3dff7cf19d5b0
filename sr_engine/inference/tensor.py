"""`upscale_tensor`: tiled inference on an in-memory (N, C, h, w) batch."""

from __future__ import annotations

import torch
from torch import Tensor

from sr_engine.errors import ConfigError
from sr_engine.inference import staged
from sr_engine.inference.auto import resolve_precision
from sr_engine.inference.autotile import resolve_tile
from sr_engine.inference.fast import runnable
from sr_engine.inference.memory import reuse_freed_memory
from sr_engine.inference.precision import forward
from sr_engine.inference.tiling import SizeRules, Tile, core_of, crop_region, run_tiles
from sr_engine.progress import ProgressCallback
from sr_engine.zoo import LoadedModel


def model_device(model: LoadedModel) -> torch.device:
    return torch.device(model.device)


def size_rules(model: LoadedModel, overlap: int | None = None, *, extra_halo: int = 0) -> SizeRules:
    """The model's tiling constraints; `overlap` below the halo is raised to it (no seams).

    `extra_halo` is the context needed by work done around the network (bicubic CbCr/alpha).
    """
    halo = max(model.spec.halo(model.scale, model.hparams), extra_halo)
    if overlap is not None:
        if overlap < 0:
            raise ConfigError(f"overlap: must be >= 0, got {overlap}")
        halo = max(halo, overlap)
    return SizeRules(halo=halo, size_multiple=model.spec.size_multiple,
                     min_size=model.spec.min_size)


def upscale_tensor(model: LoadedModel, lr: Tensor, *, tile: int | str = "auto",
                   overlap: int | None = None, batch: int = 4, precision: str = "fp32",
                   progress: ProgressCallback | None = None) -> Tensor:
    """Upscale `lr` tile by tile; the result equals the whole-image forward (within float error).

    lr: (N, C, h, w) float in [0, 1], C as the model expects (1 for Y models, 3 for RGB),
    any device. Returns (N, C, s*h, s*w) float32 in [0, 1] on CPU. `tile` is the LR core
    edge (0 = whole image, "auto" = as large as memory allows), `batch` the tiles per
    forward, `precision` one of auto/fp32/bf16/fp16.
    Emits "tiling" progress events; a `Cancelled` raised by `progress` propagates.
    """
    if lr.dim() != 4 or lr.shape[1] != model.in_channels:
        raise ConfigError(f"{model.name} expects (N, {model.in_channels}, h, w) input, "
                          f"got shape {tuple(lr.shape)}")
    if batch < 1 or (tile != "auto" and int(tile) < 0):
        raise ConfigError(f"tile must be auto or >= 0 and batch >= 1, got tile={tile}, "
                          f"batch={batch}")
    device, scale = model_device(model), model.scale
    precision = resolve_precision(precision, device, model.name)
    module = runnable(model, precision)
    reuse_freed_memory()
    n, c, h, w = lr.shape
    out = torch.empty((n, c, h * scale, w * scale), dtype=torch.float32)

    def read(tiles: list[Tile]) -> Tensor:
        return torch.cat([crop_region(lr, t.region) for t in tiles])

    def write(y: Tensor, tiles: list[Tile]) -> None:
        y = y.cpu()
        for i, t in enumerate(tiles):
            hr = core_of(y[i * n:(i + 1) * n], t, scale)
            out[..., t.core.y0 * scale:t.core.y1 * scale, t.core.x0 * scale:t.core.x1 * scale] = hr

    def work(tiles: list[Tile]) -> None:
        write(forward(module, read(tiles), device=device, precision=precision), tiles)

    rules = size_rules(model, overlap)
    chosen, batch = resolve_tile(tile, batch, model, h, w, precision=precision, rules=rules)
    stages = staged.plan(model, h, w, precision=precision, rules=rules) \
        if tile == "auto" and chosen else None
    if stages:
        staged.run(model, stages, h, w, read=read, write=write, precision=precision,
                   progress=progress)
        return out
    with torch.inference_mode():
        run_tiles(h, w, work, tile=chosen, batch=batch, rules=rules, device=device,
                  progress=progress)
    return out
