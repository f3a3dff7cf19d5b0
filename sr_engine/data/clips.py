"""Training clips for video models from still HR images: each sample is a short burst of
frames moved by a random camera path (sr_engine.data.motion) over a crop of a still, each
frame degraded like an image model's LR (`degrade`), and the centre frame's HR.

Like `PatchSampler` (whose image cache, crops, augmentation and generator it shares, so a
resumed run is exact), but `batch(n)` returns lr (n, T, p, p) and hr (n, C, p*s, p*s): the
T frames side by side as channels (C = 1, Y, for the Y models of the papers), and the centre
frame's HR. The crop carries a margin for the motion, so frames never read beyond it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from sr_engine.color import rgb_to_y
from sr_engine.data.datasets import PatchSampler
from sr_engine.data.motion import Motion, random_trajectory, render
from sr_engine.degrade import Degradation, degrade


class ClipSampler(PatchSampler):
    """See the module doc. `frames`: T, odd; `motion`: the camera paths' bounds."""

    def __init__(self, folders: Sequence[Path], *, frames: int, motion: Motion, scale: int,
                 patch_size: int, color: Literal["y", "rgb"],
                 degradation: Degradation | None = None, flips: bool = True,
                 rot90: bool = True, cache_mb: int = 2048, seed: int = 0) -> None:
        self.frames, self.motion = frames, motion
        super().__init__(folders, scale=scale, patch_size=patch_size, color=color,
                         degradation=degradation, flips=flips, rot90=rot90, cache_mb=cache_mb,
                         seed=seed)

    @property
    def motion_margin(self) -> int:
        """HR pixels a crop needs beyond the frames' window for the farthest frame: its
        shift, what rotation and zoom move the window's corner, the bicubic kernel."""
        half = self.frames // 2
        window = (self.patch_size + 2 * self.margin) * self.scale
        reach = half * (self.motion.shift + (math.radians(self.motion.angle)
                                             + self.motion.zoom) * window / math.sqrt(2))
        return math.ceil(reach) + 2

    @property
    def crop(self) -> int:
        return (self.patch_size + 2 * self.margin) * self.scale + 2 * self.motion_margin

    def batch(self, n: int) -> tuple[Tensor, Tensor]:
        """A training batch (lr, hr) on the CPU; see the module doc for shapes."""
        crops = self._augment(self._crops(n)).to(torch.float64).div_(255.0)
        window = (self.patch_size + 2 * self.margin) * self.scale
        clips = torch.stack([
            render(crop, random_trajectory(self.frames, self.motion, generator=self.generator),
                   (window, window)) for crop in crops])  # (n, T, 3, window, window)
        hr = (clips.clamp_(0, 1) * 255).round_().div_(255).float()  # frames of 8 bits
        lr = degrade(hr.flatten(0, 1), self.scale, self.degradation, self.generator)
        m, p, s = self.margin, self.patch_size, self.scale
        lr = lr[..., m:m + p, m:m + p].unflatten(0, (n, self.frames))
        hr = hr[:, self.frames // 2, :, m * s:(m + p) * s, m * s:(m + p) * s]
        if self.color == "y":
            return rgb_to_y(lr.flatten(0, 1)).unflatten(0, (n, self.frames)).flatten(1, 2) \
                .contiguous(), rgb_to_y(hr).contiguous()
        return lr.flatten(1, 2).contiguous(), hr.contiguous()
