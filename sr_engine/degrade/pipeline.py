"""The training degradation: blur -> bicubic down -> noise -> 8-bit -> JPEG, all optional.

With the defaults (everything off) `degrade` is exactly the protocol's "BI" LR: MATLAB
bicubic downscaling quantised to 8 bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sr_engine.config import StrictConfig, check
from sr_engine.degrade.blur import gaussian_blur
from sr_engine.degrade.jpeg import jpeg_roundtrip
from sr_engine.degrade.noise import add_gaussian_noise
from sr_engine.degrade.resize import imresize, quantize


@dataclass
class Degradation(StrictConfig):
    """Random degradations applied per image; each step happens with its probability.

    blur_sigma: isotropic Gaussian std range in HR pixels; noise_sigma: Gaussian noise std
    range in 8-bit levels (added to the LR); jpeg_quality: Pillow quality range (inclusive).
    """

    blur_prob: float = 0.0
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    noise_prob: float = 0.0
    noise_sigma: tuple[float, float] = (1.0, 10.0)
    jpeg_prob: float = 0.0
    jpeg_quality: tuple[int, int] = (30, 95)

    def validate(self) -> None:
        for name in ("blur_prob", "noise_prob", "jpeg_prob"):
            check(0.0 <= getattr(self, name) <= 1.0, f"degradation.{name} must be in [0, 1]")
        for name, low in (("blur_sigma", 0.0), ("noise_sigma", 0.0), ("jpeg_quality", 1)):
            lo, hi = getattr(self, name)
            check(low <= lo <= hi,
                  f"degradation.{name} must be (min, max) with {low} <= min <= max")
        check(self.jpeg_quality[1] <= 100, "degradation.jpeg_quality must be at most 100")


def _uniform(n: int, lo: float, hi: float, generator: torch.Generator) -> list[float]:
    u = torch.rand(n, generator=generator, device=generator.device, dtype=torch.float64)
    return (lo + (hi - lo) * u).tolist()


def degrade(hr: Tensor, scale: int, cfg: Degradation, generator: torch.Generator) -> Tensor:
    """HR (N, C, H, W) float in [0, 1] -> LR (N, C, ceil(H/s), ceil(W/s)), values k/255.

    Deterministic for a given generator state: every random number comes from `generator`,
    drawn in a fixed order (decisions and parameters first, then noise). Same dtype/device.
    """
    n = hr.shape[0]
    coins = _uniform(3 * n, 0.0, 1.0, generator)
    sigmas = _uniform(n, *cfg.blur_sigma, generator)
    noises = _uniform(n, *cfg.noise_sigma, generator)
    lo_q, hi_q = cfg.jpeg_quality
    qualities = torch.randint(lo_q, hi_q + 1, (n,), generator=generator,
                              device=generator.device).tolist()
    lr = hr
    if cfg.blur_prob > 0:
        lr = torch.cat([gaussian_blur(hr[i:i + 1], sigmas[i]) if coins[i] < cfg.blur_prob
                        else hr[i:i + 1] for i in range(n)])
    lr = imresize(lr, 1.0 / scale)
    noise_std = [s if coins[n + i] < cfg.noise_prob else 0.0 for i, s in enumerate(noises)]
    if any(noise_std):
        std = torch.tensor(noise_std, dtype=lr.dtype, device=lr.device).view(n, 1, 1, 1)
        lr = add_gaussian_noise(lr, std, generator)
    lr = quantize(lr)  # clamps to [0, 1] and rounds like MATLAB's uint8()
    jpeg = [jpeg_roundtrip(lr[i], qualities[i])[None] if coins[2 * n + i] < cfg.jpeg_prob
            else lr[i:i + 1] for i in range(n)]
    return torch.cat(jpeg) if cfg.jpeg_prob > 0 else lr
