"""Johnson, Alahi, Fei-Fei (ECCV 2016): the perceptual-loss image transformation net for SR."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from sr_engine.archs.common import conv, hr_halo
from sr_engine.registry import ArchSpec


class ResidualBlock(nn.Module):
    """x + BN(conv(ReLU(BN(conv(x))))), 3x3 convs with 'same' padding."""

    def __init__(self, n_feats: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv(n_feats, n_feats, 3), nn.BatchNorm2d(n_feats), nn.ReLU(inplace=True),
            conv(n_feats, n_feats, 3), nn.BatchNorm2d(n_feats),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def upconv(n_feats: int) -> nn.ConvTranspose2d:
    """Fractionally-strided 3x3 conv, stride 2, output exactly twice the input size."""
    return nn.ConvTranspose2d(n_feats, n_feats, 3, stride=2, padding=1, output_padding=1)


class JohnsonSR(nn.Module):
    """9x9 conv -> residual blocks -> log2(s) x (deconv x2 + BN + ReLU) -> 9x9 conv ->
    (tanh + 1) / 2.

    forward: (N, 3, h, w) float RGB in [0, 1] -> (N, 3, s*h, s*w) in [0, 1], same dtype.
    """

    def __init__(self, scale: int, n_resblocks: int = 4, n_feats: int = 64) -> None:
        super().__init__()
        self.head = nn.Sequential(conv(3, n_feats, 9), nn.BatchNorm2d(n_feats),
                                  nn.ReLU(inplace=True))
        self.body = nn.Sequential(*(ResidualBlock(n_feats) for _ in range(n_resblocks)))
        ups: list[nn.Module] = []
        for _ in range(int(math.log2(scale))):
            ups += [upconv(n_feats), nn.BatchNorm2d(n_feats), nn.ReLU(inplace=True)]
        self.upsample = nn.Sequential(*ups)
        self.tail = conv(n_feats, 3, 9)

    def forward(self, x: Tensor) -> Tensor:
        h = self.upsample(self.body(self.head(x)))
        return (torch.tanh(self.tail(h)) + 1.0) / 2.0


def _halo(scale: int, hp: Mapping[str, Any]) -> int:
    # Each x2 deconv reads one input pixel either side (<= 1 LR pixel at any resolution).
    return 4 + 2 * hp["n_resblocks"] + int(math.log2(scale)) + hr_halo(4, scale)


SPEC = ArchSpec(
    id="johnson",
    family="johnson",
    build=JohnsonSR,
    scales=(4, 8),
    color="rgb",
    input_space="lr",
    halo=_halo,
    defaults={"n_resblocks": 4, "n_feats": 64},
    description="Feed-forward transformation net trained with a perceptual loss (x4, x8).",
    objective="perceptual",
    paper="Johnson, Alahi, Fei-Fei. Perceptual Losses for Real-Time Style Transfer and "
          "Super-Resolution. ECCV 2016",
)
