"""Additive Gaussian noise for training degradations."""

from __future__ import annotations

import torch
from torch import Tensor


def add_gaussian_noise(x: Tensor, sigma_255: float | Tensor,
                       generator: torch.Generator) -> Tensor:
    """x (N, C, H, W) float in [0, 1] plus i.i.d. N(0, (sigma_255/255)^2) noise, unclamped.

    `sigma_255` is in 8-bit levels: a number, or a tensor broadcastable to x (e.g. (N, 1, 1, 1)
    for one std per image). The noise is drawn on the generator's device (deterministic for
    a given generator state) and moved to x's device; same dtype as x.
    """
    noise = torch.randn(x.shape, generator=generator, device=generator.device,
                        dtype=torch.float32)
    return x + noise.to(device=x.device, dtype=x.dtype) * (sigma_255 / 255.0)
