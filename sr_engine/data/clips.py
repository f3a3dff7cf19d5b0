"""Training windows for video models: `ClipSampler` makes them from still HR images (a short
burst of frames moved by a random camera path, sr_engine.data.motion, over a crop of a
still); `RealClipSampler` cuts them from real clips (frame folders or video files). Each
frame is degraded like an image model's LR (`degrade`); the target is the centre frame's HR.

Like `PatchSampler` (whose crops, augmentation and generator they share, so a resumed run is
exact), but `batch(n)` returns lr (n, T*C, p, p) and hr (n, C, p*s, p*s): the T frames side
by side as channels (C = 1, Y, for the Y models of the papers), and the centre frame's HR.
A still's crop carries a margin for the motion, so frames never read beyond it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import av
import torch
from torch import Tensor

from sr_engine.color import rgb_to_y
from sr_engine.data.datasets import PatchSampler, decode_rgb, fingerprint_update
from sr_engine.data.io import IMAGE_SUFFIXES
from sr_engine.data.motion import Motion, random_trajectory, render
from sr_engine.degrade import Degradation, degrade
from sr_engine.errors import ConfigError
from sr_engine.video import is_video
from sr_engine.video.evaluate import frame_files
from sr_engine.video.io import opened, reason


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
        return pairs(self, (clips.clamp_(0, 1) * 255).round_().div_(255).float())


def pairs(sampler: PatchSampler, hr: Tensor) -> tuple[Tensor, Tensor]:
    """HR windows (n, T, 3, H, W) float, 8-bit levels / 255, margins included -> the batch:
    each frame degraded by `sampler.degradation`, margins cut, (n, T*C, p, p) LR and the
    centre frame's (n, C, p*s, p*s) HR, C = 1 (Y) or 3."""
    n, t = hr.shape[:2]
    lr = degrade(hr.flatten(0, 1), sampler.scale, sampler.degradation, sampler.generator)
    m, p, s = sampler.margin, sampler.patch_size, sampler.scale
    lr = lr[..., m:m + p, m:m + p].unflatten(0, (n, t))
    centre = hr[:, t // 2, :, m * s:(m + p) * s, m * s:(m + p) * s]
    if sampler.color == "y":
        return rgb_to_y(lr.flatten(0, 1)).unflatten(0, (n, t)).flatten(1, 2).contiguous(), \
            rgb_to_y(centre).contiguous()
    return lr.flatten(1, 2).contiguous(), centre.contiguous()


class RealClipSampler(PatchSampler):
    """Training windows from real clips: `sources` are folders holding clip folders of
    frames at any depth (the REDS and Vimeo-90K layouts: a folder of at least `frames` images
    is one clip) or video files (decoded by PyAV). Every frame is kept in memory as uint8
    (`cache_mb` caps it). `batch(n)`: like ClipSampler's, from `frames` consecutive frames of
    a clip drawn in proportion to its length, one crop place and one augmentation for all of
    them. A PatchSampler for its crop geometry, augmentation and generator; it holds clips
    instead of stills."""

    def __init__(self, sources: Sequence[Path], *, frames: int, scale: int, patch_size: int,
                 color: Literal["y", "rgb"], degradation: Degradation | None = None,
                 flips: bool = True, rot90: bool = True, cache_mb: int = 2048,
                 seed: int = 0) -> None:
        self.frames, self.scale, self.patch_size, self.color = frames, scale, patch_size, color
        self.degradation = degradation or Degradation()
        self.flips, self.rot90, self.rescale = flips, rot90, (1.0, 1.0)
        self.generator = torch.Generator().manual_seed(seed)
        self.clips: list[Tensor] = []  # (frames of the clip, 3, H, W) uint8 each
        self.skipped = 0
        self.fingerprint = self._load_clips(sources, cache_mb * 2**20)
        if not self.clips:
            raise ConfigError(f"no clip of at least {frames} frames of {self.crop}x{self.crop} "
                              f"pixels in {', '.join(str(s) for s in sources)}")
        starts = torch.tensor([len(c) - frames + 1 for c in self.clips], dtype=torch.float64)
        self.weights = starts / starts.sum()

    def __len__(self) -> int:
        return len(self.clips)

    def _load_clips(self, sources: Sequence[Path], max_bytes: int) -> str:
        digest, used = hashlib.sha256(), 0
        for frames in read_clips(sources, self.frames, digest):
            used = self._admit(self.clips, frames, used, max_bytes, "clips", "clips")
        return digest.hexdigest()

    def batch(self, n: int) -> tuple[Tensor, Tensor]:
        g, t, c = self.generator, self.frames, self.crop
        picks = torch.multinomial(self.weights, n, replacement=True, generator=g).tolist()
        where = torch.rand(n, 3, generator=g, dtype=torch.float64).tolist()
        windows = []
        for i, (u, v, w) in zip(picks, where, strict=True):
            clip = self.clips[i]
            first = int(w * (len(clip) - t + 1))
            top, left = int(u * (clip.shape[2] - c + 1)), int(v * (clip.shape[3] - c + 1))
            windows.append(clip[first:first + t, :, top:top + c, left:left + c])
        # One augmentation per sample for all its frames: they ride along as channels.
        stacked = self._augment(torch.stack(windows).flatten(1, 2).contiguous())
        return pairs(self, stacked.unflatten(1, (t, 3)).float().div_(255.0))


def read_clips(sources: Sequence[Path], frames: int,
               digest: hashlib._Hash) -> Iterator[Tensor]:
    """Each clip of `sources` with at least `frames` frames, as (T, 3, H, W) uint8, in name
    order; every file's name and bytes go into `digest` (the data fingerprint)."""
    for source in sources:
        if source.is_file():
            data = source.read_bytes()
            fingerprint_update(digest, source.name, data)
            clip = _decoded(source)
        elif source.is_dir():
            yield from _folder_clips(source, frames, digest)
            continue
        else:
            raise ConfigError(f"training clips not found: {source}")
        if len(clip) >= frames:
            yield clip


def _folder_clips(root: Path, frames: int, digest: hashlib._Hash) -> Iterator[Tensor]:
    folders = sorted({p.parent for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES})
    videos = sorted(p for p in root.rglob("*") if is_video(p))
    for folder in folders:
        files = frame_files(folder)  # the order evaluate --video reads a clip's frames in
        if len(files) < frames:
            continue
        stack = []
        for path in files:
            data = path.read_bytes()
            label = path.relative_to(root).as_posix()
            fingerprint_update(digest, label, data)
            stack.append(decode_rgb(label, data))
        if len({f.shape for f in stack}) == 1:  # a folder of mixed sizes is not a clip
            yield torch.stack(stack)
    for video in videos:
        yield from read_clips([video], frames, digest)


def _decoded(path: Path) -> Tensor:
    """Every frame of a video file as (T, 3, H, W) uint8 RGB (decoded in memory once)."""
    with opened(path) as container:
        try:
            frames = [torch.from_numpy(f.to_ndarray(format="rgb24")).permute(2, 0, 1)
                      for f in container.decode(video=0)]
        except av.FFmpegError as exc:
            raise ConfigError(f"cannot decode training clip {path.name} ({reason(exc)})") \
                from None
    if not frames:
        raise ConfigError(f"training clip {path.name} has no video frame")
    return torch.stack(frames)
