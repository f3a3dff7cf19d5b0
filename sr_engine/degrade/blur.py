"""Isotropic Gaussian blur for training degradations."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def gaussian_kernel1d(sigma: float, *, dtype: torch.dtype = torch.float32,
                      device: torch.device | str = "cpu") -> Tensor:
    """Normalised 1-D Gaussian of radius ceil(3 sigma) (at least 1): shape (2r+1,)."""
    radius = max(1, math.ceil(3.0 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-(t * t) / (2.0 * max(sigma, 1e-6) ** 2))
    return (g / g.sum()).to(device=device, dtype=dtype)


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Blur (N, C, H, W) float with an isotropic Gaussian of std `sigma` pixels.

    Separable, reflect-padded borders (so a constant image stays constant), same dtype
    and device as x. The radius must be smaller than H and W (reflect padding).
    """
    g = gaussian_kernel1d(sigma, dtype=x.dtype, device=x.device)
    r, c = g.numel() // 2, x.shape[1]
    y = F.pad(x, (r, r, r, r), mode="reflect")
    y = F.conv2d(y, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return F.conv2d(y, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
