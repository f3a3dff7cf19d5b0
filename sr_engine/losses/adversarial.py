"""SRGAN's adversarial terms (Ledig et al. 2017): BCE on discriminator logits of shape (N, 1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def generator_adversarial_loss(fake_logits: Tensor) -> Tensor:
    """-log D(G(lr)): the generator wants its outputs classified as real (label 1)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-log D(hr) - log(1 - D(G(lr))): real HR patches are 1, generated ones 0."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake
