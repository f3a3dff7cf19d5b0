"""Peak signal-to-noise ratio."""

from __future__ import annotations

import torch
from torch import Tensor

from sr_engine.metrics._common import as_batch


def psnr(a: Tensor, b: Tensor, *, crop: int = 0, data_range: float = 1.0) -> Tensor:
    """PSNR in dB, `10 log10(data_range^2 / MSE)`, per image, computed in float64.

    a, b: (N, C, H, W), (C, H, W) or (H, W), any real dtype, values on [0, data_range]
    (1.0 for [0, 1] floats, 255 for 8-bit levels). `crop` pixels are shaved from each
    border first. Returns a float64 tensor (N,) of per-image values (MSE over all channels
    and pixels), or a 0-dim tensor for a single image; identical images give +inf.
    """
    x, y, single = as_batch(a, b, crop)
    mse = (x - y).pow(2).mean(dim=(1, 2, 3))
    out = 10.0 * torch.log10(data_range**2 / mse)
    return out[0] if single else out
