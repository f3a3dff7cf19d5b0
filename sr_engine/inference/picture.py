"""`upscale_picture`: tiled upscaling of a decoded image with bounded memory.

The output arrays are allocated once in the input's integer dtype and filled tile by tile,
so the only full-size buffers are the input and the output pixels themselves; colour
conversion, the network, CbCr/alpha resampling and quantisation all happen per tile. The
colour fix (`UpscaleConfig.color_fix`, off for PSNR models) is the exception: it needs the
whole image's statistics, so it runs once on the assembled output, in float.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from sr_engine.color import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from sr_engine.data.io import Picture
from sr_engine.degrade.resize import imresize
from sr_engine.errors import ConfigError
from sr_engine.inference import staged
from sr_engine.inference.auto import resolve_precision
from sr_engine.inference.autotile import resolve_tile
from sr_engine.inference.colorfix import fix_pixels, resolve_color_fix
from sr_engine.inference.config import UpscaleConfig
from sr_engine.inference.fast import Runnable, runnable
from sr_engine.inference.memory import reuse_freed_memory
from sr_engine.inference.precision import forward
from sr_engine.inference.tensor import model_device, size_rules
from sr_engine.inference.tiling import Box, Tile, core_of, region_index, run_tiles
from sr_engine.progress import ProgressCallback
from sr_engine.zoo import LoadedModel

# Bicubic upscaling reads LR pixels up to 2 away; one more keeps clear of the kernel edge.
BICUBIC_HALO = 3


def upscale_picture(model: LoadedModel, picture: Picture, config: UpscaleConfig,
                    progress: ProgressCallback | None = None, *,
                    window: Sequence[Picture] | None = None) -> Picture:
    """Upscale a Picture by `model.scale`, tile by tile, in its own integer dtype.

    pixels (H, W, C) uint8 or uint16, C = 1 or 3; alpha (H, W) or None. Returns a Picture with
    (s*H, s*W, C) pixels and (s*H, s*W) alpha of the same dtypes; ICC profile and format
    are carried over. Y models run on the luma (CbCr and alpha are bicubic-upscaled); a
    grayscale input is its own luma for Y models and is replicated to RGB for RGB models.

    Video models (`model.frames` > 1) take `window`: that many consecutive frames of one
    size, `picture` the centre one (the frame upscaled), in order.
    """
    return upscale_picture_counted(model, picture, config, progress, window=window)[0]


def upscale_picture_counted(model: LoadedModel, picture: Picture, config: UpscaleConfig,
                            progress: ProgressCallback | None = None, *,
                            window: Sequence[Picture] | None = None) -> tuple[Picture, int]:
    """`upscale_picture` that also returns the number of tiles run."""
    if model.scale != config.scale:
        raise ConfigError(f"the loaded model is x{model.scale}, the config asks x{config.scale}")
    frames = [picture] if window is None else list(window)
    if len(frames) != model.frames:
        raise ConfigError(f"{model.name} is a video model: it upscales clips, "
                          f"{model.frames} frames at a time" if model.frames > 1 else
                          f"{model.name} upscales one picture at a time, not {len(frames)}")
    pixels, alpha, s = picture.pixels, picture.alpha, model.scale
    if any(f.pixels.shape != pixels.shape for f in frames):
        raise ConfigError("the frames of a window must share one size and colour mode")
    height, width, channels = pixels.shape
    if channels not in (1, 3):
        raise ConfigError(f"expected 1 or 3 colour channels, got {channels}")
    device = model_device(model)
    precision = resolve_precision(config.precision, device, model.name)
    color_fix = resolve_color_fix(config.color_fix, model.meta)  # a bad mode fails first
    module = runnable(model, precision)
    reuse_freed_memory()
    out = np.empty((height * s, width * s, channels), dtype=pixels.dtype)
    out_alpha = None if alpha is None else np.empty((height * s, width * s), dtype=alpha.dtype)

    def read(tiles: list[Tile]) -> Tensor:
        return _read_tiles(pixels, tiles, device)

    def read_window(tiles: list[Tile]) -> list[Tensor]:
        return [_read_tiles(f.pixels, tiles, device) for f in frames]

    def write(y: Tensor, tiles: list[Tile]) -> None:
        _write_tiles(out, y, tiles, s)
        if alpha is not None and out_alpha is not None:
            a = imresize(_read_tiles(alpha[..., None], tiles, device), s).clamp(0.0, 1.0)
            _write_tiles(out_alpha[..., None], a, tiles, s)

    def work(tiles: list[Tile]) -> None:
        write(_network_colour(module, read_window(tiles), model.spec.channels, s, device,
                              precision), tiles)

    rules = size_rules(model, config.overlap, extra_halo=BICUBIC_HALO)
    tile, batch = resolve_tile(config.tile, config.batch, model, height, width,
                               precision=precision, rules=rules)
    # Two passes (features, then the upsampler) where the arch splits and colours need no
    # conversion around the network: RGB model, RGB picture.
    stages = staged.plan(model, height, width, precision=precision, rules=rules,
                         extra_halo=BICUBIC_HALO) \
        if config.tile == "auto" and tile and channels == model.spec.channels == 3 else None
    if stages:
        n_tiles = staged.run(model, stages, height, width, read=read, write=write,
                             precision=precision, progress=progress)
    else:
        with torch.inference_mode():
            n_tiles = run_tiles(height, width, work, tile=tile, batch=batch, rules=rules,
                                device=device, progress=progress)
    # On the whole image (tiles would each get their own colours); alpha is not colour.
    fix_pixels(out, pixels, color_fix, device)
    # One frame comes out whatever the source had (only frame 0 of an animation is decoded).
    upscaled = dataclasses.replace(picture, pixels=out, alpha=out_alpha, n_frames=1)
    return upscaled, n_tiles


def _network_colour(module: Runnable, xs: list[Tensor], model_channels: int, scale: int,
                    device: torch.device, precision: str) -> Tensor:
    """The (n, C, h, w) picture colours in [0, 1] of each frame the network takes (one for
    image models, the window of a video model) -> (n, C, s*h, s*w), the centre frame
    upscaled, for any C/model mix. Frames go to the network side by side as channels."""
    def net(frames: list[Tensor]) -> Tensor:
        return forward(module, torch.cat(frames, dim=1), device=device, precision=precision)

    x = xs[len(xs) // 2]
    if model_channels == 3:
        if x.shape[1] == 3:
            return net(xs)
        return net([t.expand(-1, 3, -1, -1) for t in xs]).mean(dim=1, keepdim=True)
    if x.shape[1] == 1:  # a gray value is its own luma (the SR evaluation convention)
        return net(xs)
    y = net([rgb_to_y(t) for t in xs])
    return with_lr_chroma(y, x, scale)


def with_lr_chroma(y: Tensor, lr: Tensor, scale: int) -> Tensor:
    """A Y model's (n, 1, s*h, s*w) output in colour: with the CbCr of the (n, 3, h, w) RGB
    `lr` upscaled by MATLAB bicubic, back to RGB in [0, 1] (how Y models upscale pictures)."""
    cbcr = imresize(rgb_to_ycbcr(lr)[:, 1:], scale)
    return ycbcr_to_rgb(torch.cat([y, cbcr], dim=1)).clamp(0.0, 1.0)


def _read_tiles(pixels: np.ndarray, tiles: list[Tile], device: torch.device) -> Tensor:
    """Stacked tile regions of an (H, W, C) integer array as (n, C, h, w) float32 in [0, 1]."""
    scale = float(np.iinfo(pixels.dtype).max)
    stack = np.stack([_region(pixels, t.region) for t in tiles]).astype(np.float32)
    x = torch.from_numpy(stack).to(device).permute(0, 3, 1, 2)
    return x / scale


def _region(pixels: np.ndarray, region: Box) -> np.ndarray:
    index = region_index(region, pixels.shape[0], pixels.shape[1])
    if index is None:
        return pixels[region.y0:region.y1, region.x0:region.x1]
    return pixels[np.ix_(*index)]


def _write_tiles(out: np.ndarray, y: Tensor, tiles: list[Tile], scale: int) -> None:
    """Quantise (n, C, s*h, s*w) [0, 1] to `out`'s integer dtype and write each tile's core."""
    top = float(np.iinfo(out.dtype).max)
    # uint16 has few torch kernels; int32 holds its levels and numpy narrows on assignment.
    dtype = torch.uint8 if out.dtype == np.uint8 else torch.int32
    for hr, t in zip(y, tiles, strict=True):
        # y is in [0, 1], so truncating x*top + 0.5 rounds half away from zero like MATLAB.
        levels = (core_of(hr, t, scale) * top).add_(0.5).to(dtype)
        c = t.core
        out[c.y0 * scale:c.y1 * scale, c.x0 * scale:c.x1 * scale] = (
            levels.permute(1, 2, 0).cpu().numpy())
