"""SRGAN (Ledig et al., CVPR 2017): the SRResNet generator and the VGG-style discriminator."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from sr_engine.archs.common import conv, hr_halo, shuffle_upsampler, shuffle_upsampler_halo
from sr_engine.errors import ConfigError
from sr_engine.registry import ArchSpec


class ResidualBlock(nn.Module):
    """x + BN(conv(PReLU(BN(conv(x))))), 3x3 convs."""

    def __init__(self, n_feats: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv(n_feats, n_feats, 3), nn.BatchNorm2d(n_feats), nn.PReLU(),
            conv(n_feats, n_feats, 3), nn.BatchNorm2d(n_feats),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """9x9 head + PReLU -> residual blocks -> conv + BN (long skip) -> pixel-shuffle stages
    with PReLU -> 9x9 tail.

    forward: (N, 3, h, w) float RGB in [0, 1] -> (N, 3, s*h, s*w), same dtype. BatchNorm in
    eval mode is a per-pixel affine map, so tiled inference equals whole-image inference.
    """

    def __init__(self, scale: int, n_resblocks: int = 16, n_feats: int = 64) -> None:
        super().__init__()
        self.head = nn.Sequential(conv(3, n_feats, 9), nn.PReLU())
        self.body = nn.Sequential(*(ResidualBlock(n_feats) for _ in range(n_resblocks)),
                                  conv(n_feats, n_feats, 3), nn.BatchNorm2d(n_feats))
        self.upsample = shuffle_upsampler(scale, n_feats, act=nn.PReLU)
        self.tail = conv(n_feats, 3, 9)

    def forward(self, x: Tensor) -> Tensor:
        return self.reconstruct(self.features(x))

    def features(self, x: Tensor) -> Tensor:
        """(N, 3, h, w) -> the (N, n_feats, h, w) map the upsampler reads."""
        h = self.head(x)
        return h + self.body(h)

    def reconstruct(self, f: Tensor) -> Tensor:
        return self.tail(self.upsample(f))


def _srresnet_feature_halo(scale: int, hp: Mapping[str, Any]) -> int:
    return 4 + 2 * hp["n_resblocks"] + 1  # 9x9 head, two 3x3 per block, body conv: all LR


def _srresnet_halo(scale: int, hp: Mapping[str, Any]) -> int:
    return (_srresnet_feature_halo(scale, hp) + shuffle_upsampler_halo(scale)
            + hr_halo(4, scale))


class Discriminator(nn.Module):
    """8 convs 3x3 (n, n/2, 2n, 2n/2, 4n, 4n/2, 8n, 8n/2 where /2 is stride 2), BN after all
    but the first, LeakyReLU(0.2); global average pool; dense `dense` -> LeakyReLU -> dense 1.

    forward: (N, 3, H, W) float RGB in [0, 1], H, W >= 16 -> logits (N, 1), same dtype.
    The pooling (instead of the paper's flatten of a 6x6 map) makes any patch size work.
    """

    def __init__(self, scale: int = 4, n_feats: int = 64, dense: int = 1024) -> None:
        super().__init__()
        del scale  # registered with scales for the uniform build() call; unused
        layers: list[nn.Module] = []
        in_ch = 3
        for i in range(8):
            out_ch = n_feats * 2 ** (i // 2)
            layers.append(nn.Conv2d(in_ch, out_ch, 3, stride=1 + i % 2, padding=1))
            if i:
                layers.append(nn.BatchNorm2d(out_ch))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(in_ch, dense), nn.LeakyReLU(0.2, inplace=True), nn.Linear(dense, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x * 2.0 - 1.0))  # centre inputs on zero


def _no_halo(scale: int, hp: Mapping[str, Any]) -> int:
    raise ConfigError("srgan_discriminator is not an image-to-image model; it has no halo")


SRRESNET = ArchSpec(
    id="srresnet",
    family="srgan",
    build=SRResNet,
    scales=(2, 3, 4),
    color="rgb",
    input_space="lr",
    halo=_srresnet_halo,
    feature_halo=_srresnet_feature_halo,
    defaults={"n_resblocks": 16, "n_feats": 64},
    description="SRGAN's generator: 16 BN residual blocks, PReLU, pixel shuffle (~1.5M params).",
    paper="Ledig et al. Photo-Realistic Single Image Super-Resolution Using a Generative "
          "Adversarial Network. CVPR 2017",
)

# SRGAN is SRResNet's network trained adversarially; its own id names its own weights
# (srgan_x4 beside srresnet_x4), and training may start it from an srresnet checkpoint.
SRGAN = dataclasses.replace(
    SRRESNET, id="srgan", objective="perceptual",
    description="SRResNet fine-tuned with a feature loss and SRGAN's discriminator: "
                "sharper texture, lower PSNR.")

DISCRIMINATOR = ArchSpec(
    id="srgan_discriminator",
    family="srgan",
    build=Discriminator,
    scales=(2, 3, 4, 8),
    color="rgb",
    input_space="lr",
    halo=_no_halo,
    defaults={"n_feats": 64, "dense": 1024},
    kind="discriminator",
    min_size=16,
    description="SRGAN's VGG-style discriminator on HR patches (>= 16 px); returns logits (N, 1).",
    paper=SRRESNET.paper,
)
