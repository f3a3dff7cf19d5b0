"""Structural similarity (Wang, Bovik, Sheikh, Simoncelli, IEEE TIP 2004)."""

from __future__ import annotations

import torch
from torch import Tensor

from sr_engine.errors import ConfigError
from sr_engine.metrics._common import as_batch

WINDOW = 11
SIGMA = 1.5
K1, K2 = 0.01, 0.03


def gaussian_window(size: int = WINDOW, sigma: float = SIGMA) -> Tensor:
    """1-D normalised Gaussian (float64); the 2-D window is its outer product."""
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(t * t) / (2 * sigma * sigma))
    return g / g.sum()


def _filter_valid(x: Tensor, g: Tensor) -> Tensor:
    """Separable 'valid' Gaussian filtering of (..., H, W) as weighted sums of shifted views.

    Exact float64 and memory-light (a 2-D float64 conv would build 121x im2col buffers).
    """
    k = g.numel()
    h, w = x.shape[-2] - k + 1, x.shape[-1] - k + 1
    rows = sum(g[i] * x[..., i:i + h, :] for i in range(k))
    return sum(g[j] * rows[..., :, j:j + w] for j in range(k))


def ssim(a: Tensor, b: Tensor, *, crop: int = 0, data_range: float = 1.0) -> Tensor:
    """Mean SSIM per image (11x11 Gaussian window, sigma 1.5, valid filtering, K1 0.01,
    K2 0.03), computed in float64; for several channels the mean over channels.

    a, b: (N, C, H, W), (C, H, W) or (H, W), values on [0, data_range]; `crop` pixels are
    shaved from each border first (the image must stay at least 11x11). Returns a float64
    tensor (N,), or a 0-dim tensor for a single image.
    """
    x, y, single = as_batch(a, b, crop)
    if min(x.shape[-2:]) < WINDOW:
        raise ConfigError(f"SSIM needs at least {WINDOW}x{WINDOW} pixels after the crop, "
                          f"got {x.shape[-2]}x{x.shape[-1]}")
    g = gaussian_window().to(x.device)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    mu_x, mu_y = _filter_valid(x, g), _filter_valid(y, g)
    var_x = _filter_valid(x * x, g) - mu_x * mu_x
    var_y = _filter_valid(y * y, g) - mu_y * mu_y
    cov = _filter_valid(x * y, g) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
    out = ssim_map.mean(dim=(2, 3)).mean(dim=1)
    return out[0] if single else out
