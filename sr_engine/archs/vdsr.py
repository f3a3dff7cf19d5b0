"""VDSR (Kim, Lee, Lee, CVPR 2016): a deep plain net predicting the bicubic residual."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from sr_engine.archs.common import conv, preupsampled_halo, upsample_bicubic
from sr_engine.errors import ConfigError
from sr_engine.registry import ArchSpec


class VDSR(nn.Module):
    """`n_layers` 3x3 convs (n_feats channels, ReLU between) + global residual.

    forward: (N, 1, h, w) float Y in [0, 1] -> bicubic(x) + net(bicubic(x)),
    (N, 1, s*h, s*w), same dtype.
    """

    def __init__(self, scale: int, n_layers: int = 20, n_feats: int = 64) -> None:
        super().__init__()
        if n_layers < 2:
            raise ConfigError(f"vdsr: n_layers must be at least 2, got {n_layers}")
        self.scale = scale
        layers: list[nn.Module] = [conv(1, n_feats, 3), nn.ReLU(inplace=True)]
        for _ in range(n_layers - 2):
            layers += [conv(n_feats, n_feats, 3), nn.ReLU(inplace=True)]
        layers.append(conv(n_feats, 1, 3))
        self.body = nn.Sequential(*layers)
        for m in self.body:  # He init, as in the paper: 20 plain ReLU layers need it
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        up = upsample_bicubic(x, self.scale)
        return up + self.body(up)


def _halo(scale: int, hp: Mapping[str, Any]) -> int:
    return preupsampled_halo(hp["n_layers"], scale)


SPEC = ArchSpec(
    id="vdsr",
    family="vdsr",
    build=VDSR,
    scales=(2, 3, 4),
    color="y",
    input_space="upsampled",
    halo=_halo,
    defaults={"n_layers": 20, "n_feats": 64},
    description="Very deep (20-layer) residual net on the bicubic-upsampled luma (~665K params).",
    paper="Kim, Lee, Lee. Accurate Image Super-Resolution Using Very Deep Convolutional "
          "Networks. CVPR 2016",
)
