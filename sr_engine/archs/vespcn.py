"""VESPCN (Caballero et al., CVPR 2017): motion-compensated early fusion of consecutive frames
and an ESPCN-style sub-pixel upsampler, on Y.

Calling convention of video models (`ArchSpec.kind == "video"`): `model(lr) -> hr` with lr
(N, T, h, w) float Y in [0, 1], T = `frames` consecutive frames (the centre one, T // 2, is
the frame restored), hr (N, 1, s*h, s*w). `model.motion(lr)` returns the warped neighbours
and their flows as well, for the training losses of the paper (`motion_losses`).

Motion compensation (the paper's spatial transformer, Sec. 3.2): for each neighbour, a coarse
flow from the (centre, neighbour) pair estimated at 1/4 resolution (two stride-2 5x5 convs,
then 3x3 convs, tanh, pixel shuffle x4), the neighbour warped by it, then a fine flow at 1/2
resolution from the pair, the coarse flow and the warped neighbour (stride-2 5x5 conv, 3x3
convs, tanh, pixel shuffle x2); the neighbour is warped bilinearly by their sum. Flows are in
LR pixels, tanh-bounded to `max_flow`. `motion=False` is the paper's baseline without motion
compensation: the frames are fused as they are.

SR network: early fusion (all frames as channels of the first layer), `layers` 3x3 convs of
`features` channels with ReLU, a 3x3 conv to s^2 channels and a pixel shuffle. The depth and
width are this project's reading of the paper's "9 layers" spatio-temporal ESPCN; they are
hyperparameters, recorded in every checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sr_engine.archs.common import conv
from sr_engine.registry import ArchSpec


def warp(frame: Tensor, flow: Tensor) -> Tensor:
    """Bilinear backward warp: out[y, x] = frame[y + flow_y, x + flow_x]. frame (N, C, h, w),
    flow (N, 2, h, w) in pixels (x then y); outside the frame reads its border."""
    n, _, h, w = frame.shape
    ys = torch.arange(h, device=frame.device, dtype=flow.dtype)
    xs = torch.arange(w, device=frame.device, dtype=flow.dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    x = (gx + flow[:, 0]) * (2 / max(w - 1, 1)) - 1
    y = (gy + flow[:, 1]) * (2 / max(h - 1, 1)) - 1
    grid = torch.stack([x, y], dim=-1)
    return F.grid_sample(frame, grid.to(frame.dtype), mode="bilinear", padding_mode="border",
                         align_corners=True)


def _flow_net(in_ch: int, down: int, mids: int, max_flow: float) -> nn.Module:
    """Convs at 1/`down` resolution ending in 2*down^2 tanh channels shuffled to a full-size
    flow (N, 2, h, w) in [-max_flow, max_flow] pixels."""
    layers: list[nn.Module] = []
    ch = in_ch
    for _ in range(int(math.log2(down))):
        layers += [nn.Conv2d(ch, 24, 5, stride=2, padding=2), nn.ReLU(inplace=True)]
        ch = 24
        layers += [conv(24, 24, 3), nn.ReLU(inplace=True)]
    for _ in range(mids):
        layers += [conv(24, 24, 3), nn.ReLU(inplace=True)]
    layers += [conv(24, 2 * down * down, 3), nn.Tanh(), nn.PixelShuffle(down)]
    return _Scaled(nn.Sequential(*layers), max_flow)


class _Scaled(nn.Module):
    def __init__(self, body: nn.Module, gain: float) -> None:
        super().__init__()
        self.body, self.gain = body, gain

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) * self.gain


class MotionCompensation(nn.Module):
    """Coarse (x4) then fine (x2) flow of a neighbour onto the centre frame; see the module
    doc. forward(centre, neighbour): both (N, 1, h, w) with h, w multiples of 4 ->
    (warped neighbour (N, 1, h, w), flow (N, 2, h, w))."""

    def __init__(self, max_flow: float = 24.0) -> None:
        super().__init__()
        self.coarse = _flow_net(2, 4, 0, max_flow)
        self.fine = _flow_net(5, 2, 2, max_flow)

    def forward(self, centre: Tensor, neighbour: Tensor) -> tuple[Tensor, Tensor]:
        coarse = self.coarse(torch.cat([centre, neighbour], dim=1))
        rough = warp(neighbour, coarse)
        flow = coarse + self.fine(torch.cat([centre, neighbour, coarse, rough], dim=1))
        return warp(neighbour, flow), flow


class VESPCN(nn.Module):
    """forward: (N, T, h, w) float Y in [0, 1] -> (N, 1, s*h, s*w), any h and w (padded
    inside to the coarse flow's multiple of 4). See the module doc."""

    def __init__(self, scale: int, frames: int = 3, layers: int = 9, features: int = 24,
                 motion: bool = True, max_flow: float = 24.0) -> None:
        super().__init__()
        self.frames, self.centre, self.scale = frames, frames // 2, scale
        self.compensates_motion = motion
        self.mc = MotionCompensation(max_flow) if motion else None
        body: list[nn.Module] = [conv(frames, features, 3), nn.ReLU(inplace=True)]
        for _ in range(layers - 2):
            body += [conv(features, features, 3), nn.ReLU(inplace=True)]
        body += [conv(features, scale * scale, 3), nn.PixelShuffle(scale)]
        self.sr = nn.Sequential(*body)

    def motion(self, lr: Tensor) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """(the SR output, each neighbour warped onto the centre, their flows), neighbours in
        frame order; no warps or flows without motion compensation."""
        h, w = lr.shape[-2:]
        pad_h, pad_w = -h % 4, -w % 4
        if self.mc is not None and (pad_h or pad_w):
            sr, warped, flows = self.motion(F.pad(lr, (0, pad_w, 0, pad_h), mode="replicate"))
            s = self.scale
            return (sr[..., :h * s, :w * s], [x[..., :h, :w] for x in warped],
                    [f[..., :h, :w] for f in flows])
        frames = list(lr.split(1, dim=1))
        centre = frames[self.centre]
        warped: list[Tensor] = []
        flows: list[Tensor] = []
        if self.mc is not None:
            for t, frame in enumerate(frames):
                if t != self.centre:
                    frames[t], flow = self.mc(centre, frame)
                    warped.append(frames[t])
                    flows.append(flow)
        return self.sr(torch.cat(frames, dim=1)), warped, flows

    def forward(self, lr: Tensor) -> Tensor:
        return self.motion(lr)[0]


def motion_losses(centre: Tensor, warped: list[Tensor], flows: list[Tensor], *,
                  huber_delta: float = 0.01) -> tuple[Tensor, Tensor]:
    """The paper's motion terms (Eq. 3): the MSE between each warped neighbour and the centre
    frame, and a Huber penalty on the flows' spatial gradients (smooth motion); each a mean
    over neighbours, zero without any. Weighted by the recipe (the paper: 0.01 and 0.001)."""
    if not warped:
        zero = centre.new_zeros(())
        return zero, zero
    warp_mse = torch.stack([F.mse_loss(w, centre) for w in warped]).mean()
    smooth = []
    for flow in flows:
        dx = flow[..., :, 1:] - flow[..., :, :-1]
        dy = flow[..., 1:, :] - flow[..., :-1, :]
        smooth.append(F.huber_loss(dx, torch.zeros_like(dx), delta=huber_delta)
                      + F.huber_loss(dy, torch.zeros_like(dy), delta=huber_delta))
    return warp_mse, torch.stack(smooth).mean()


# LR pixels the flow nets see around a pixel: the coarse net's 5x5 convs and 3x3 convs at 1,
# 1/2 and 1/4 resolution and its x4 shuffle (2+2+4+4+4+3), then the fine net's on top of
# them at 1 and 1/2 resolution and its x2 shuffle (2+2+2+2+2+1).
_FLOW_REACH = 19 + 11


def _halo(scale: int, hp: Mapping[str, Any]) -> int:
    """The SR network's convs, plus with motion compensation the larger of the flow nets'
    reach and the farthest the warp reads (coarse and fine flows each up to max_flow)."""
    reach = hp["layers"]  # 3x3 convs in LR space
    if hp["motion"]:
        reach += max(_FLOW_REACH, 2 * math.ceil(hp["max_flow"]) + 1)
    return reach


SPEC = ArchSpec(
    id="vespcn",
    family="vespcn",
    build=VESPCN,
    scales=(2, 3, 4),
    color="y",
    input_space="lr",
    halo=_halo,
    defaults={"frames": 3, "layers": 9, "features": 24, "motion": True, "max_flow": 24.0},
    variants={"no_mc": {"motion": False}, "e5": {"frames": 5}},
    kind="video",
    min_size=8,
    description="Video ESPCN: motion-compensated early fusion of consecutive frames and a "
                "sub-pixel upsampler (Y).",
    paper="Caballero et al. Real-Time Video Super-Resolution with Spatio-Temporal Networks "
          "and Motion Compensation. CVPR 2017",
)
