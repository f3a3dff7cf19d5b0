"""ESPCN (Shi et al., CVPR 2016): LR-space convs and a sub-pixel (pixel-shuffle) output."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from sr_engine.archs.common import conv
from sr_engine.registry import ArchSpec


class ESPCN(nn.Module):
    """conv 5x5 (n1) -> tanh -> conv 3x3 (n2) -> tanh -> conv 3x3 (s^2) -> PixelShuffle(s).

    forward: (N, 1, h, w) float Y in [0, 1] -> (N, 1, s*h, s*w), same dtype.
    """

    def __init__(self, scale: int, n1: int = 64, n2: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv(1, n1, 5), nn.Tanh(),
            conv(n1, n2, 3), nn.Tanh(),
            conv(n2, scale * scale, 3),
            nn.PixelShuffle(scale),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


def _halo(scale: int, hp: Mapping[str, Any]) -> int:
    return 2 + 1 + 1  # all convs in LR space; the shuffle stays inside each LR block


SPEC = ArchSpec(
    id="espcn",
    family="espcn",
    build=ESPCN,
    scales=(2, 3, 4),
    color="y",
    input_space="lr",
    halo=_halo,
    defaults={"n1": 64, "n2": 32},
    description="Efficient sub-pixel CNN: three LR-space convs and a pixel shuffle.",
    paper="Shi et al. Real-Time Single Image and Video Super-Resolution Using an Efficient "
          "Sub-Pixel Convolutional Neural Network. CVPR 2016",
)
