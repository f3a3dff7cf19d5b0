"""The parameter-free baseline: MATLAB bicubic upsampling."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from sr_engine.archs.common import BICUBIC_HALO, upsample_bicubic
from sr_engine.registry import ArchSpec


class Bicubic(nn.Module):
    """(N, C, h, w) float -> (N, C, s*h, s*w), same dtype; any channel count, no clamping."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        return upsample_bicubic(x, self.scale)


def _halo(scale: int, hparams: Mapping[str, Any]) -> int:
    return BICUBIC_HALO


SPEC = ArchSpec(
    id="bicubic",
    family="bicubic",
    build=Bicubic,
    scales=(2, 3, 4, 8),
    color="rgb",
    input_space="upsampled",
    halo=_halo,
    trainable=False,
    description="MATLAB-compatible bicubic interpolation; the baseline every table starts from.",
    paper="Keys 1981, Cubic convolution interpolation for digital image processing",
)
