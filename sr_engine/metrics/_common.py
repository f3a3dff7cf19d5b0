"""Shared input handling of the full-reference metrics."""

from __future__ import annotations

import torch
from torch import Tensor

from sr_engine.errors import ConfigError


def as_batch(a: Tensor, b: Tensor, crop: int) -> tuple[Tensor, Tensor, bool]:
    """Both images as float64 (N, C, H, W) with `crop` pixels shaved from every border.

    Accepts (H, W), (C, H, W) (one image each) or (N, C, H, W). Returns the pair and
    whether the input was a single image (so callers return a scalar).
    """
    if a.shape != b.shape:
        raise ConfigError(f"metric inputs differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.dim() not in (2, 3, 4):
        raise ConfigError(f"expected (H, W), (C, H, W) or (N, C, H, W), got {tuple(a.shape)}")
    single = a.dim() < 4
    shape = (1,) * (4 - a.dim()) + tuple(a.shape)
    a64 = a.to(torch.float64).reshape(shape)
    b64 = b.to(torch.float64).reshape(shape)
    if crop < 0 or 2 * crop >= min(shape[-2:]):
        raise ConfigError(f"crop {crop} leaves nothing of a {shape[-2]}x{shape[-1]} image")
    if crop:
        a64 = a64[..., crop:-crop, crop:-crop]
        b64 = b64[..., crop:-crop, crop:-crop]
    return a64, b64, single
