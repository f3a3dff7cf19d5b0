"""Pixel losses between a prediction and its target, both (N, C, H, W) float in [0, 1]."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def l1_loss(sr: Tensor, hr: Tensor) -> Tensor:
    """Mean absolute error over every element; a scalar float tensor."""
    return F.l1_loss(sr, hr)


def mse_loss(sr: Tensor, hr: Tensor) -> Tensor:
    """Mean squared error over every element; a scalar float tensor."""
    return F.mse_loss(sr, hr)


def charbonnier_loss(sr: Tensor, hr: Tensor, eps: float = 1e-3) -> Tensor:
    """Mean of sqrt((sr - hr)^2 + eps^2): a differentiable L1 (LapSRN's robust loss)."""
    return torch.sqrt((sr - hr).square() + eps * eps).mean()


def total_variation(sr: Tensor, hr: Tensor) -> Tensor:
    """Mean squared difference of sr's vertical and horizontal neighbours (hr unused): the
    smoothness regulariser Johnson et al. add to their feature loss against its artefacts."""
    del hr
    dy = (sr[..., 1:, :] - sr[..., :-1, :]).square().mean()
    dx = (sr[..., :, 1:] - sr[..., :, :-1]).square().mean()
    return dy + dx


PIXEL_LOSSES = {"l1": l1_loss, "mse": mse_loss, "charbonnier": charbonnier_loss,
                "tv": total_variation}
