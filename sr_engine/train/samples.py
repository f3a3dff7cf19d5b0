"""Sample crops for watching a run learn: one HR region, its protocol LR, bicubic and the
model's output, all at HR size, as (3, H, W) float32 RGB in [0, 1] on CPU."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sr_engine.color import rgb_to_ycbcr, ycbcr_to_rgb
from sr_engine.degrade import Degradation, degrade
from sr_engine.degrade.resize import imresize, quantize
from sr_engine.errors import ImageError


def center_crop(hr: Tensor, size: int, scale: int) -> Tensor:
    """(C, H, W) -> the centred (C, s, s) crop, s = min(size, H, W) cut to a multiple of
    `scale`; ImageError when the image is smaller than one scale step."""
    _, h, w = hr.shape
    side = min(size, h, w) // scale * scale
    if side < scale:
        raise ImageError(f"a {w}x{h} image is too small for x{scale} samples")
    y0, x0 = (h - side) // 2, (w - side) // 2
    return hr[:, y0:y0 + side, x0:x0 + side]


def _rgb(x: Tensor) -> Tensor:
    return x.expand(3, -1, -1) if x.shape[0] == 1 else x


@torch.no_grad()
def sample_crops(module: nn.Module, hr: Tensor, *, scale: int, color: str,
                 size: int = 96) -> dict[str, Tensor]:
    """{"lr", "bicubic", "model", "hr"} for the centre crop of `hr` (C, H, W) in [0, 1].

    LR is the protocol's bicubic downscale quantised to 8 bits, shown nearest-neighbour
    enlarged; a Y model gets the LR's luma and its chroma comes from bicubic (as in
    inference). The module's train/eval mode is restored.
    """
    crop = _rgb(center_crop(hr.float().cpu(), size, scale))[None]
    lr = quantize(imresize(crop, 1.0 / scale)).clamp(0.0, 1.0)
    bicubic = imresize(lr, float(scale)).clamp(0.0, 1.0)
    device = next(module.parameters(), torch.empty(0)).device
    was_training = module.training
    module.eval()
    try:
        if color == "y":
            ycc = rgb_to_ycbcr(lr)
            y = module(ycc[:, :1].to(device)).float().cpu()
            up = ycbcr_to_rgb(torch.cat([y, rgb_to_ycbcr(bicubic)[:, 1:]], dim=1))
        else:
            up = module(lr.to(device)).float().cpu()
    finally:
        module.train(was_training)
    nearest = torch.nn.functional.interpolate(lr, scale_factor=scale, mode="nearest")
    return {"lr": nearest[0], "bicubic": bicubic[0], "model": up.clamp(0.0, 1.0)[0],
            "hr": crop[0]}


def degradation_preview(hr: Tensor, *, scale: int, degradation: Degradation,
                        seed: int = 0, size: int = 192) -> dict[str, Tensor]:
    """{"hr", "lr", "bicubic"} for the centre crop of `hr` (C, H, W) in [0, 1]: the LR the
    training degradation makes (one draw from `seed`), nearest-enlarged, and its bicubic."""
    crop = _rgb(center_crop(hr.float().cpu(), size, scale))[None]
    generator = torch.Generator().manual_seed(seed)
    lr = degrade(crop, scale, degradation, generator).clamp(0.0, 1.0)
    nearest = torch.nn.functional.interpolate(lr, scale_factor=scale, mode="nearest")
    return {"hr": crop[0], "lr": nearest[0],
            "bicubic": imresize(lr, float(scale)).clamp(0.0, 1.0)[0]}
