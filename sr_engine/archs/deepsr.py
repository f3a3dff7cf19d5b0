"""DeepSR's draft ensemble (Liao et al., ICCV 2015), on Y.

Calling convention of video models: see sr_engine.archs.vespcn (lr (N, T, h, w) -> hr
(N, 1, s*h, s*w), the centre frame T // 2 restored).

SR drafts: every frame is upscaled (bicubic); for each neighbour and each flow setting, the
optical flow from the upscaled centre frame to the upscaled neighbour is estimated and the
neighbour is warped onto the centre (bicubic interpolation, borders replicated). Several
settings of one flow method give drafts whose errors differ, and the CNN learns where to
trust which: the paper's ensemble idea. With T frames and S settings there are (T - 1) * S
drafts; the CNN sees them and the bicubic centre frame as channels.

Flow: OpenCV's DIS optical flow (Kroeger et al., ECCV 2016) from opencv-python-headless,
chosen over TV-L1 (the paper's, in OpenCV's contrib build only) because it is in the
maintained main package and fast enough to make drafts inside the training step (about 1 ms
for a 96x96 patch, 0.3 s for a 1920x1280 frame on a 2-core Xeon, where TV-L1 took 0.3 s
for 256x256). Its variational refinement minimises a data term plus a smoothness term weighted
by `alpha`: the settings are values of that weight, as the paper's settings are TV-L1's
regularisation weights. Flows carry no gradient: the CNN is what trains.

CNN (the paper's): a conv 11x11 to 256 channels, a conv 1x1 to 512, a conv 3x3 to one
channel, then a 25x25 conv ("deconvolution" in the paper: a learned deblurring filter), with
ReLU after the first two. This project adds the bicubic centre frame to the output (the CNN
learns the residual), so training starts from bicubic quality within a CPU budget; the
paper's direct output was not trained for comparison. Widths are hyperparameters, recorded
in every checkpoint.

Tiles: the flow of a tile is estimated from that tile (and its halo) only, so a tiled run
equals a whole-frame run up to the flow's differences near tile borders; the halo below
covers the CNN's reach and a generous share of the flow's. Measured with the shipped x4
weights on 12 frames of the Set14 clips: LR tiles of 32 and 64 pixels scored within 0.001
dB of whole frames (mean Y PSNR).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from sr_engine.archs.common import conv, upsample_bicubic
from sr_engine.registry import ArchSpec


def flow_to(centre: np.ndarray, other: np.ndarray, alpha: float) -> np.ndarray:
    """Flow (H, W, 2), x then y, with centre[y, x] ~ other[y + fy, x + fx]; uint8 frames."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    dis.setVariationalRefinementAlpha(float(alpha))
    return dis.calc(centre, other, None)


def warp_onto(frame: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """`frame` (float32 H x W) sampled at each pixel plus its flow: the neighbour seen from
    the centre frame (bicubic; outside the frame reads its border)."""
    h, w = frame.shape
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(frame, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_CUBIC,
                     borderMode=cv2.BORDER_REPLICATE)


def make_drafts(upscaled: Tensor, alphas: Sequence[float]) -> Tensor:
    """(N, T, H, W) upscaled frames in [0, 1] -> (N, 1 + (T - 1) * len(alphas), H, W) float32:
    the centre frame, then each neighbour warped onto it under each flow setting."""
    if torch.jit.is_tracing():  # a trace would keep these drafts as constants
        raise RuntimeError("DeepSR's drafts come from OpenCV: the model cannot be traced")
    n, t, _, _ = upscaled.shape
    centre = t // 2
    frames = upscaled.detach().float().clamp(0, 1).cpu().numpy()
    quantised = np.rint(frames * 255).astype(np.uint8)  # DIS reads 8-bit images
    out = []
    for i in range(n):
        drafts = [frames[i, centre]]
        for j in range(t):
            if j == centre:
                continue
            for alpha in alphas:
                flow = flow_to(quantised[i, centre], quantised[i, j], alpha)
                drafts.append(warp_onto(frames[i, j], flow))
        out.append(np.stack(drafts))
    # float32 whatever the input: the bicubic frame the CNN adds to stays exact under bf16
    return torch.from_numpy(np.stack(out)).to(upscaled.device)


class DeepSR(nn.Module):
    """Draft ensemble: drafts from several flow settings, fused by the paper's CNN."""

    def __init__(self, scale: int, frames: int = 3, alphas: Sequence[float] = (5, 20, 80),
                 features: Sequence[int] = (256, 512), deblur: int = 25) -> None:
        super().__init__()
        self.scale, self.frames, self.alphas = scale, frames, tuple(alphas)
        drafts = 1 + (frames - 1) * len(self.alphas)
        wide, mixed = features
        self.body = nn.Sequential(
            conv(drafts, wide, 11), nn.ReLU(inplace=True),
            conv(wide, mixed, 1), nn.ReLU(inplace=True),
            conv(mixed, 1, 3),
            conv(1, 1, deblur),
        )

    def drafts(self, lr: Tensor) -> Tensor:
        """The CNN's input for `lr` (N, T, h, w): bicubic centre frame and the drafts."""
        with torch.no_grad():
            return make_drafts(upsample_bicubic(lr, self.scale), self.alphas)

    def forward(self, lr: Tensor) -> Tensor:
        x = self.drafts(lr)
        if lr.is_contiguous(memory_format=torch.channels_last):  # the layout oneDNN wants
            x = x.contiguous(memory_format=torch.channels_last)
        return x[:, :1] + self.body(x)


# DIS builds its image pyramid down to a level set by the frame's size, so every flow vector
# depends on the whole frame and no halo makes tiles exact; 32 LR pixels (ten of its 12-pixel
# patches at x4) gives each tile's flow the surroundings that decide it away from the edges.
_FLOW_REACH = 32


def _halo(scale: int, hp: Mapping[str, Any]) -> int:
    """LR pixels: the flow's reach, plus the CNN's (11x11, 3x3 and the deblur kernel at HR)."""
    cnn = 5 + 1 + hp["deblur"] // 2
    return _FLOW_REACH + math.ceil(cnn / scale)


SPEC = ArchSpec(
    id="deepsr",
    family="deepsr",
    build=DeepSR,
    scales=(2, 3, 4),
    color="y",
    input_space="lr",
    halo=_halo,
    defaults={"frames": 3, "alphas": [5, 20, 80], "features": [256, 512], "deblur": 25},
    variants={"e5": {"frames": 5}},
    kind="video",
    min_size=8,
    description="DeepSR draft ensemble: neighbours warped onto the centre frame by optical "
                "flow under several settings, fused by a CNN (Y; ~354K params).",
    paper="Liao et al. Video Super-Resolution via Deep Draft-Ensemble Learning. ICCV 2015",
)
