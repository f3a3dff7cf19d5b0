"""Colour spaces with MATLAB `rgb2ycbcr` constants (ITU-R BT.601, studio swing).

All values live on [0, 1]: RGB in [0, 1] maps to Y in [16/255, 235/255] and Cb, Cr in
[16/255, 240/255], i.e. MATLAB's uint8 YCbCr divided by 255. `ycbcr_to_rgb` is the exact
matrix inverse (no clamping), so a round trip returns the input up to float rounding.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sr_engine.errors import ConfigError

# MATLAB rgb2ycbcr: ycbcr_255 = OFFSET + MATRIX @ rgb_01.
_MATRIX = torch.tensor([[65.481, 128.553, 24.966],
                        [-37.797, -74.203, 112.0],
                        [112.0, -93.786, -18.214]], dtype=torch.float64)
_OFFSET = torch.tensor([16.0, 128.0, 128.0], dtype=torch.float64)
# Both directions on [0, 1]: ycbcr = FWD @ rgb + FWD_OFF, rgb = INV @ ycbcr + INV_OFF.
_FWD = _MATRIX / 255.0
_FWD_OFF = _OFFSET / 255.0
_INV = torch.linalg.inv(_FWD)
_INV_OFF = -_INV @ _FWD_OFF


def _affine(x: Tensor, matrix: Tensor, offset: Tensor) -> Tensor:
    """matrix (k, 3) @ x[..., 3, h, w] + offset over the channel dim (-3), in x's dtype."""
    if x.dim() < 3 or x.shape[-3] != 3:
        raise ConfigError(f"expected (N, 3, H, W) colour tensor, got shape {tuple(x.shape)}")
    compute = torch.float64 if x.dtype == torch.float64 else torch.float32
    m = matrix.to(x.device, compute)
    b = offset.to(x.device, compute)
    xc = x.to(compute)
    # Explicit sums keep float64 exactness and avoid a matmul that TF32/autocast could round.
    out = torch.stack([m[i, 0] * xc[..., 0, :, :] + m[i, 1] * xc[..., 1, :, :]
                       + m[i, 2] * xc[..., 2, :, :] + b[i] for i in range(m.shape[0])],
                      dim=-3)
    return out.to(x.dtype)


def rgb_to_ycbcr(x: Tensor) -> Tensor:
    """RGB (N, 3, H, W) float in [0, 1] -> YCbCr (N, 3, H, W) on [0, 1] (MATLAB / 255).

    Any float dtype; computed in float32 (float64 for float64 input), returned in x's dtype.
    """
    return _affine(x, _FWD, _FWD_OFF)


def ycbcr_to_rgb(x: Tensor) -> Tensor:
    """YCbCr (N, 3, H, W) on [0, 1] (MATLAB / 255) -> RGB (N, 3, H, W), not clamped."""
    return _affine(x, _INV, _INV_OFF)


def rgb_to_y(x: Tensor) -> Tensor:
    """RGB (N, 3, H, W) float in [0, 1] -> luma Y (N, 1, H, W) in [16/255, 235/255]."""
    return _affine(x, _FWD[:1], _FWD_OFF[:1])


__all__ = ["rgb_to_y", "rgb_to_ycbcr", "ycbcr_to_rgb"]
