"""Building blocks and receptive-field arithmetic shared by the architecture families.

Halo arithmetic (see `ArchSpec.halo`): a layer working at `f` times the LR resolution with
kernel radius `r` (in its own pixels) moves an output's dependency by at most `ceil(r / f)`
LR pixels; pixel shuffle keeps every pixel inside its LR block, so it adds nothing. Summing
these per-layer bounds gives a correct upper bound of the receptive-field radius.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from sr_engine.errors import ConfigError

# MATLAB bicubic upsampling: an HR pixel reads LR pixels strictly closer than 2 to its
# centre, i.e. at most 2 LR pixels from its own LR block.
BICUBIC_HALO = 2

# Mean RGB of the DIV2K training images (in [0, 1]), used by EDSR's MeanShift.
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


def conv(in_ch: int, out_ch: int, kernel: int, *, bias: bool = True) -> nn.Conv2d:
    """A stride-1 conv with 'same' zero padding (odd kernels), so size is preserved."""
    return nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=bias)


def upsample_bicubic(x: Tensor, scale: int) -> Tensor:
    """MATLAB bicubic upsampling of (N, C, h, w) float to (N, C, s*h, s*w), same dtype.

    Runs outside autocast: under bf16 the resampling matmuls would round the bicubic image
    that residual nets (VDSR, DRCN) add to their output, costing PSNR for nothing.
    """
    from sr_engine.degrade.resize import imresize  # the project's only resampler

    with torch.autocast(x.device.type, enabled=False):
        return imresize(x, scale=scale)


def hr_halo(radius_hr: int, scale: int) -> int:
    """LR-pixel halo of a stack of convs whose radii sum to `radius_hr` HR pixels."""
    return math.ceil(radius_hr / scale)


def preupsampled_halo(radius_hr: int, scale: int) -> int:
    """Halo of a pre-upsampling net: bicubic support plus the convs run at HR resolution."""
    return BICUBIC_HALO + hr_halo(radius_hr, scale)


def shuffle_stages(scale: int) -> tuple[int, ...]:
    """Pixel-shuffle factors that compose `scale`: x2 -> (2,), x3 -> (3,), x4 -> (2, 2)."""
    if scale == 3:
        return (3,)
    if scale >= 2 and scale & (scale - 1) == 0:
        return (2,) * int(math.log2(scale))
    raise ConfigError(f"pixel-shuffle upsampling supports x2, x3, x4, x8, not x{scale}")


def shuffle_upsampler(scale: int, n_feats: int,
                      act: type[nn.Module] | None = None) -> nn.Sequential:
    """conv 3x3 (n -> f^2 n) + PixelShuffle(f) [+ act] for each stage of `shuffle_stages`."""
    layers: list[nn.Module] = []
    for f in shuffle_stages(scale):
        layers += [conv(n_feats, f * f * n_feats, 3), nn.PixelShuffle(f)]
        if act is not None:
            layers.append(act())
    return nn.Sequential(*layers)


def shuffle_upsampler_halo(scale: int) -> int:
    """Each stage's 3x3 conv (radius 1) runs at a resolution >= LR: one LR pixel each."""
    return len(shuffle_stages(scale))


class MeanShift(nn.Module):
    """Subtract (sign=-1) or add back (sign=+1) a fixed per-channel RGB mean.

    A non-persistent buffer, not a frozen conv: nothing to train, nothing in the state dict.
    """

    def __init__(self, mean: tuple[float, ...], sign: int) -> None:
        super().__init__()
        self.register_buffer("shift", sign * torch.tensor(mean).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.shift.to(x.dtype)
