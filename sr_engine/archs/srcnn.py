"""SRCNN (Dong et al., ECCV 2014 / TPAMI 2016): three convs on the bicubic-upsampled Y."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from sr_engine.archs.common import conv, preupsampled_halo, upsample_bicubic
from sr_engine.registry import ArchSpec


class SRCNN(nn.Module):
    """Patch extraction (f1) -> non-linear mapping (f2) -> reconstruction (f3), ReLU.

    forward: (N, 1, h, w) float Y in [0, 1] -> (N, 1, s*h, s*w), same dtype. The bicubic
    upsampling the paper does outside the net happens here, in forward().
    """

    def __init__(self, scale: int, n1: int = 64, n2: int = 32, f1: int = 9, f2: int = 5,
                 f3: int = 5) -> None:
        super().__init__()
        self.scale = scale
        self.body = nn.Sequential(
            conv(1, n1, f1), nn.ReLU(inplace=True),
            conv(n1, n2, f2), nn.ReLU(inplace=True),
            conv(n2, 1, f3),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(upsample_bicubic(x, self.scale))


def _halo(scale: int, hp: Mapping[str, Any]) -> int:
    return preupsampled_halo((hp["f1"] // 2) + (hp["f2"] // 2) + (hp["f3"] // 2), scale)


SPEC = ArchSpec(
    id="srcnn",
    family="srcnn",
    build=SRCNN,
    scales=(2, 3, 4),
    color="y",
    input_space="upsampled",
    halo=_halo,
    defaults={"n1": 64, "n2": 32, "f1": 9, "f2": 5, "f3": 5},
    variants={"9-5-5": {"f2": 5}, "9-1-5": {"f2": 1}},
    description="Three-layer CNN on the bicubic-upsampled luma (9-5-5 by default, ~57K params).",
    paper="Dong, Loy, He, Tang. Image Super-Resolution Using Deep Convolutional Networks. "
          "TPAMI 2016",
)
