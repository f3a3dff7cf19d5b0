"""EDSR (Lim et al., CVPRW 2017): BN-free residual blocks and a pixel-shuffle upsampler."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from sr_engine.archs.common import (
    DIV2K_RGB_MEAN,
    MeanShift,
    conv,
    hr_halo,
    shuffle_upsampler,
    shuffle_upsampler_halo,
)
from sr_engine.registry import ArchSpec


class ResBlock(nn.Module):
    """x + res_scale * conv(relu(conv(x))), 3x3 convs, no BatchNorm."""

    def __init__(self, n_feats: int, res_scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(conv(n_feats, n_feats, 3), nn.ReLU(inplace=True),
                                  conv(n_feats, n_feats, 3))
        self.res_scale = res_scale

    def forward(self, x: Tensor) -> Tensor:
        # In place on the fresh body output; no multiply by 1.0 (the baseline's res_scale),
        # which profiling showed costs 4% of an EDSR-baseline forward for nothing.
        out = self.body(x)
        if self.res_scale != 1.0:
            out.mul_(self.res_scale)
        return out.add_(x)


class EDSR(nn.Module):
    """MeanShift -> head conv -> n_resblocks ResBlocks + conv (long skip) -> upsampler ->
    tail conv -> MeanShift back.

    forward: (N, 3, h, w) float RGB in [0, 1] -> (N, 3, s*h, s*w), same dtype.
    """

    def __init__(self, scale: int, n_resblocks: int = 16, n_feats: int = 64,
                 res_scale: float = 1.0) -> None:
        super().__init__()
        self.sub_mean = MeanShift(DIV2K_RGB_MEAN, sign=-1)
        self.head = conv(3, n_feats, 3)
        blocks: list[nn.Module] = [ResBlock(n_feats, res_scale) for _ in range(n_resblocks)]
        self.body = nn.Sequential(*blocks, conv(n_feats, n_feats, 3))
        self.tail = nn.Sequential(shuffle_upsampler(scale, n_feats), conv(n_feats, 3, 3))
        self.add_mean = MeanShift(DIV2K_RGB_MEAN, sign=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.reconstruct(self.features(x))

    def features(self, x: Tensor) -> Tensor:
        """(N, 3, h, w) -> the (N, n_feats, h, w) map the upsampler reads."""
        h = self.head(self.sub_mean(x))
        return h + self.body(h)

    def reconstruct(self, f: Tensor) -> Tensor:
        return self.add_mean(self.tail(f))


def _feature_halo(scale: int, hp: Mapping[str, Any]) -> int:
    return 1 + 2 * hp["n_resblocks"] + 1  # head, two convs per block, body conv: all LR


def _halo(scale: int, hp: Mapping[str, Any]) -> int:
    return _feature_halo(scale, hp) + shuffle_upsampler_halo(scale) + hr_halo(1, scale)


SPEC = ArchSpec(
    id="edsr",
    family="edsr",
    build=EDSR,
    scales=(2, 3, 4),
    color="rgb",
    input_space="lr",
    halo=_halo,
    feature_halo=_feature_halo,
    defaults={"n_resblocks": 16, "n_feats": 64, "res_scale": 1.0},
    variants={
        "baseline": {"n_resblocks": 16, "n_feats": 64, "res_scale": 1.0},
        "full": {"n_resblocks": 32, "n_feats": 256, "res_scale": 0.1},
    },
    description="Enhanced deep residual net, baseline 16x64 (~1.37M params at x2); full 32x256.",
    paper="Lim, Son, Kim, Nah, Lee. Enhanced Deep Residual Networks for Single Image "
          "Super-Resolution. CVPRW 2017",
)
