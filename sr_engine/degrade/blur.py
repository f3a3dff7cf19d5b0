"""Isotropic Gaussian blur for training degradations (and the video protocol's BD)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def gaussian_kernel1d(sigma: float, *, radius: int | None = None,
                      dtype: torch.dtype = torch.float32,
                      device: torch.device | str = "cpu") -> Tensor:
    """Normalised 1-D Gaussian of radius `radius` (default ceil(3 sigma), at least 1): shape
    (2r+1,). Its outer product with itself is MATLAB fspecial('gaussian', 2r+1, sigma)."""
    radius = max(1, math.ceil(3.0 * sigma)) if radius is None else radius
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-(t * t) / (2.0 * max(sigma, 1e-6) ** 2))
    return (g / g.sum()).to(device=device, dtype=dtype)


def gaussian_blur(x: Tensor, sigma: float, *, radius: int | None = None,
                  border: str = "reflect") -> Tensor:
    """Blur (N, C, H, W) float with an isotropic Gaussian of std `sigma` pixels.

    Separable, same dtype and device as x. `radius` as gaussian_kernel1d. Borders: "reflect"
    (so a constant image stays constant; the radius must be smaller than H and W) or
    "replicate" (edge pixels repeated, as MATLAB imfilter(..., 'replicate')).
    """
    g = gaussian_kernel1d(sigma, radius=radius, dtype=x.dtype, device=x.device)
    r, c = g.numel() // 2, x.shape[1]
    y = F.pad(x, (r, r, r, r), mode=border)
    y = F.conv2d(y, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return F.conv2d(y, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
