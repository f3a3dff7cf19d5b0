"""Synthetic camera motion over still images: clips for training and checking video models
on a machine without video data.

A `Trajectory` is a smooth camera path over T frames: per frame a sub-pixel translation, a
small rotation and a zoom, with the centre frame the identity (the frame a multi-frame model
restores). Velocities change by small random steps from frame to frame (a hand-held pan, not
a jitter). `render` samples each frame of the path from one still HR image; the frames are
HR frames like a camera's, degraded afterwards by the protocol (BI or BD) frame by frame.

Sampling is bicubic (Keys, a = -0.75, as torch's grid_sample) from the still, so every frame,
the centre one included, has been through the same resampler; a frame whose transform is the
identity is the still's pixels (to float64 rounding: exact once quantized to 8 bits).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from sr_engine.errors import ConfigError


@dataclass(frozen=True)
class Motion:
    """Bounds of a random trajectory, per frame from the centre: `shift` HR pixels (the
    largest speed), `angle` degrees and `zoom` (relative scale change)."""

    shift: float = 3.0
    angle: float = 0.5
    zoom: float = 0.01


@dataclass(frozen=True)
class Trajectory:
    """Per frame: (dx, dy) HR pixels, angle (radians), zoom (1 = none). Frame T // 2 is the
    identity."""

    dx: tuple[float, ...]
    dy: tuple[float, ...]
    angle: tuple[float, ...]
    zoom: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.dx)


def random_trajectory(frames: int, motion: Motion | None = None, *,
                      generator: torch.Generator | None = None) -> Trajectory:
    """A smooth random path of `frames` frames: a speed drawn within `motion`'s bounds that
    changes by up to a quarter of them a frame, integrated from the centre frame outwards."""
    if frames < 1:
        raise ConfigError(f"a trajectory needs at least one frame, got {frames}")
    motion = motion or Motion()
    bounds = torch.tensor([motion.shift, motion.shift, math.radians(motion.angle), motion.zoom],
                          dtype=torch.float64)

    def uniform(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=generator, dtype=torch.float64) * 2 - 1

    speed = uniform(4) * bounds
    steps = speed + torch.cumsum(uniform(frames, 4) * bounds / 4, dim=0)
    steps = steps.clamp(-bounds, bounds)
    # Positions: the centre at 0, each neighbour one (varying) step further out.
    centre = frames // 2
    position = torch.zeros(frames, 4, dtype=torch.float64)
    for t in range(centre + 1, frames):
        position[t] = position[t - 1] + steps[t]
    for t in range(centre - 1, -1, -1):
        position[t] = position[t + 1] - steps[t]
    dx, dy, angle, zoom = position.T.tolist()
    return Trajectory(tuple(dx), tuple(dy), tuple(angle), tuple(1.0 + z for z in zoom))


def render(still: Tensor, trajectory: Trajectory, size: tuple[int, int]) -> Tensor:
    """The frames of `trajectory` over `still` (C, H, W) float: (T, C, h, w), each the
    centre (h, w) window of the still moved by that frame's transform (content moves by
    +dx, +dy). Pixels that the motion brings in from beyond the still reflect its edge: leave
    a margin of the largest shift around the window to avoid them."""
    c, big_h, big_w = still.shape
    h, w = size
    if h > big_h or w > big_w:
        raise ConfigError(f"a {h}x{w} window does not fit a {big_h}x{big_w} still")
    frames = []
    for dx, dy, angle, zoom in zip(trajectory.dx, trajectory.dy, trajectory.angle,
                                   trajectory.zoom, strict=True):
        frames.append(_sample(still, (h, w), dx, dy, angle, zoom))
    return torch.stack(frames)


def _sample(still: Tensor, size: tuple[int, int], dx: float, dy: float, angle: float,
            zoom: float) -> Tensor:
    """One window by grid_sample, in pixels: the window's pixel p (relative to its centre,
    which sits on the still's pixel grid) reads the still at R(-angle) p / zoom - (dx, dy)
    relative to the same centre. The identity reads whole pixels: the still's own values (to
    float64 rounding)."""
    _, big_h, big_w = still.shape
    h, w = size
    top, left = (big_h - h) // 2, (big_w - w) // 2
    cy, cx = top + (h - 1) / 2, left + (w - 1) / 2  # the window's centre in the still
    ys = torch.arange(h, dtype=torch.float64) - (h - 1) / 2
    xs = torch.arange(w, dtype=torch.float64) - (w - 1) / 2
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    cos, sin = math.cos(angle), math.sin(angle)
    src_x = cx + (cos * x + sin * y) / zoom - dx
    src_y = cy + (-sin * x + cos * y) / zoom - dy
    # grid_sample's normalised coordinates (align_corners=False): -1 and 1 are outer edges.
    grid = torch.stack([(src_x + 0.5) / big_w * 2 - 1, (src_y + 0.5) / big_h * 2 - 1], dim=-1)
    out = F.grid_sample(still[None].to(torch.float64), grid[None], mode="bicubic",
                        padding_mode="reflection", align_corners=False)
    return out[0].to(still.dtype)


def margin(trajectory: Trajectory, size: tuple[int, int]) -> int:
    """HR pixels a window of `size` needs on each side for `trajectory` to read only the
    still: the largest shift, plus what rotation and zoom move a corner, plus the bicubic
    kernel's reach."""
    half_diag = math.hypot(*size) / 2
    reach = max(max(abs(dx), abs(dy)) + (abs(a) + abs(1 - 1 / z)) * half_diag
                for dx, dy, a, z in zip(trajectory.dx, trajectory.dy, trajectory.angle,
                                        trajectory.zoom, strict=True))
    return math.ceil(reach) + 2


def clip_from_still(still: Tensor, frames: int, *, multiple: int = 12,
                    motion: Motion | None = None, generator: torch.Generator | None = None
                    ) -> Tensor:
    """HR frames (T, C, h, w) of a random camera path over `still` (C, H, W) float in
    [0, 1], quantized to 8-bit levels / 255: the largest window that the path never takes
    beyond the still, with sides a multiple of `multiple` (12: every scale 2, 3, 4 divides
    them)."""
    trajectory = random_trajectory(frames, motion or Motion(), generator=generator)
    _, big_h, big_w = still.shape
    pad = margin(trajectory, (big_h, big_w))
    h, w = (big_h - 2 * pad) // multiple * multiple, (big_w - 2 * pad) // multiple * multiple
    if h < multiple or w < multiple:
        raise ConfigError(f"a {big_h}x{big_w} still is too small for this motion (it needs "
                          f"{pad} pixels of margin a side)")
    hr = render(still, trajectory, (h, w))
    return torch.round(hr.clamp(0, 1) * 255) / 255
