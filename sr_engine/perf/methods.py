"""The ways of running one model on one image that the performance table compares. Each gets
the image as a float tensor (what the peers' scripts feed their models) and as a decoded
8-bit picture (what `sr-engine upscale` and web jobs upscale, minus file decode/encode)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from sr_engine.data.io import Picture
from sr_engine.inference import UpscaleConfig, upscale_picture
from sr_engine.zoo import LoadedModel

# Real-ESRGAN's inference script on a CPU: --tile 400 (what its README suggests when memory
# runs short; its default, 0, is the plain whole-image forward below), --tile_pad 10,
# --pre_pad 0, --fp32 (its fp16 default is not usable on a CPU).
REALESRGAN_TILE, REALESRGAN_PAD = 400, 10

Method = Callable[[LoadedModel, Tensor, Picture], object]


def engine(model: LoadedModel, lr: Tensor, picture: Picture) -> Picture:
    """This engine as `sr-engine upscale` and the web run it (their defaults)."""
    return upscale_picture(model, picture, UpscaleConfig(scale=model.scale))


def engine_whole(model: LoadedModel, lr: Tensor, picture: Picture) -> Picture:
    """The same, in one forward over the whole image (tile 0): the tiling overhead's base."""
    return upscale_picture(model, picture, UpscaleConfig(scale=model.scale, tile=0))


def _nchw_copy(model: LoadedModel) -> nn.Module:
    # A private copy: the engine's module is channels_last and may be shared in-process.
    return copy.deepcopy(model.module).to(memory_format=torch.contiguous_format).eval()


def plain(model: LoadedModel, lr: Tensor, picture: Picture | None = None) -> Tensor:
    """A plain NCHW fp32 forward of the whole image, as BasicSR's test script runs it."""
    module = _nchw_copy(model)
    with torch.inference_mode():
        return module(lr).clamp_(0, 1)


def realesrgan_loop(model: LoadedModel, lr: Tensor, picture: Picture | None = None, *,
                    tile: int = REALESRGAN_TILE, pad: int = REALESRGAN_PAD) -> Tensor:
    """Real-ESRGAN's tile loop (RealESRGANer.tile_process), re-implemented: tiles of `tile`
    LR pixels read `pad` pixels around them (fewer than these models' receptive fields, so
    its seams are not exact), one tile per NCHW fp32 forward, pasted into the output."""
    module, s = _nchw_copy(model), model.scale
    n, c, h, w = lr.shape
    out = lr.new_zeros(n, c, h * s, w * s)
    with torch.inference_mode():
        for ty in range(math.ceil(h / tile)):
            for tx in range(math.ceil(w / tile)):
                y0, x0 = ty * tile, tx * tile
                y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
                py0, px0 = max(y0 - pad, 0), max(x0 - pad, 0)
                py1, px1 = min(y1 + pad, h), min(x1 + pad, w)
                y = module(lr[..., py0:py1, px0:px1])
                oy, ox = (y0 - py0) * s, (x0 - px0) * s
                out[..., y0 * s:y1 * s, x0 * s:x1 * s] = \
                    y[..., oy:oy + (y1 - y0) * s, ox:ox + (x1 - x0) * s]
    return out.clamp_(0, 1)


METHODS: dict[str, Method] = {
    "engine": engine,
    "engine-whole": engine_whole,
    "plain-nchw-fp32": plain,
    "realesrgan-loop": realesrgan_loop,
}
