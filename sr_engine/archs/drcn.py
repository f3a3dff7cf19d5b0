"""DRCN (Kim, Lee, Lee, CVPR 2016): one conv applied recursively, with recursive supervision."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from sr_engine.archs.common import conv, preupsampled_halo, upsample_bicubic
from sr_engine.errors import ConfigError
from sr_engine.registry import ArchSpec


class DRCN(nn.Module):
    """Embedding (2 convs) -> the same 3x3 conv applied `recursions` times -> a reconstruction
    net (2 convs) shared by every recursion; each recursion d predicts
    y_d = recon(H_d) + bicubic(x), and the output is sum_d w_d * y_d with learned w_d.

    forward: (N, 1, h, w) float Y in [0, 1] -> (N, 1, s*h, s*w), same dtype.
    `forward_all` also returns the intermediate predictions for recursive supervision.
    """

    def __init__(self, scale: int, n_feats: int = 256, recursions: int = 16) -> None:
        super().__init__()
        if recursions < 1:
            raise ConfigError(f"drcn: recursions must be at least 1, got {recursions}")
        self.scale = scale
        self.recursions = recursions
        self.embed = nn.Sequential(conv(1, n_feats, 3), nn.ReLU(inplace=True),
                                   conv(n_feats, n_feats, 3), nn.ReLU(inplace=True))
        self.recursive = nn.Sequential(conv(n_feats, n_feats, 3), nn.ReLU(inplace=True))
        self.reconstruct = nn.Sequential(conv(n_feats, n_feats, 3), nn.ReLU(inplace=True),
                                         conv(n_feats, 1, 3))
        # The paper initialises the ensemble uniformly: the plain mean of the predictions.
        self.ensemble = nn.Parameter(torch.full((recursions,), 1.0 / recursions))

    def forward_all(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """(final, [y_1 .. y_D]): the weighted output and every recursion's prediction."""
        up = upsample_bicubic(x, self.scale)
        h = self.embed(up)
        preds = []
        for _ in range(self.recursions):
            h = self.recursive(h)
            preds.append(self.reconstruct(h) + up)
        weights = self.ensemble.to(up.dtype)
        final = sum((w * p for w, p in zip(weights, preds, strict=True)), torch.zeros_like(up))
        return final, preds

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_all(x)[0]


def _halo(scale: int, hp: Mapping[str, Any]) -> int:
    return preupsampled_halo(2 + hp["recursions"] + 2, scale)


SPEC = ArchSpec(
    id="drcn",
    family="drcn",
    build=DRCN,
    scales=(2, 3, 4),
    color="y",
    input_space="upsampled",
    halo=_halo,
    defaults={"n_feats": 256, "recursions": 16},
    description="Deeply-recursive conv net: one shared 3x3 conv unrolled 16 times (~1.77M params).",
    paper="Kim, Lee, Lee. Deeply-Recursive Convolutional Network for Image Super-Resolution. "
          "CVPR 2016",
)
