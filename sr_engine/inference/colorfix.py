"""Colour fix: give an upscaled image the colours of its low-resolution input.

Johnson et al. (Perceptual Losses for Real-Time Style Transfer and Super-Resolution, 2016)
histogram-match their SR output to the LR input: networks trained on feature losses drift in
colour, while the input's colours are right by definition. Two transfers, per channel of
(N, C, H, W) float tensors, the output against its input (any smaller H, W):

- `match_histogram`: exact CDF matching. Each output value goes to the input's quantile at
  the value's rank (no bins); equal values share their mid-rank, so each channel gets one
  monotone tone curve (equal values stay equal: a quantised output gains no noise).
- `match_mean_std`: each channel's mean and standard deviation made the input's.

`apply_color_fix` decides the colour space: RGB goes to YCbCr (BT.601, sr_engine.color), Cb
and Cr get the transfer, Y gets only the transfer's mean shift. Why: the input is a blurred,
smaller copy of the scene, so its luma spread is narrower than the true image's; matching
Y's distribution (or spread) to it takes back the detail the model restored. Measured on
Set5 + Set14 at x4, EDSR output: histogram matching in RGB or in all of YCbCr cost 0.27-0.28
dB PSNR against the HR images, mean/std 0.11 dB; chroma plus a luma mean shift at most
0.003 dB (docs/ENGINE_API.md). A tint or saturation drift is a chroma change and is undone;
a brightness offset is a luma mean; a luma contrast change is left as it is. A gray image
is its own luma: only its mean moves. The result is clamped to [0, 1].

Apply it to the whole assembled image, never per tile: tiles have different statistics and
would come out in different colours (`fix_pixels`, called by sr_engine.inference.picture).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor

from sr_engine.checkpoint import CheckpointMeta
from sr_engine.color import rgb_to_ycbcr, ycbcr_to_rgb
from sr_engine.errors import ConfigError

ColorFixMode = Literal["hist", "meanstd", "none"]
COLOR_FIX_MODES: tuple[str, ...] = ("hist", "meanstd", "none")


def match_histogram(out: Tensor, ref: Tensor) -> Tensor:
    """`out` (N, C, H, W) with each channel's values mapped onto the distribution of the
    same image and channel of `ref` (N, C, h, w): exact ranks, linear interpolation between
    `ref`'s sorted values. Not clamped; in `out`'s dtype."""
    _check_pair(out, ref)
    flat_out, flat_ref = out.flatten(2), ref.flatten(2)
    result = torch.empty_like(flat_out)
    # A channel at a time: the peak holds one channel's sort and run indices (8 bytes a
    # pixel); within a channel everything is vectorised.
    for i in range(out.shape[0]):
        for c in range(out.shape[1]):
            result[i, c] = _match_channel(flat_out[i, c], flat_ref[i, c])
    return result.view_as(out)


def _match_channel(values: Tensor, ref: Tensor) -> Tensor:
    """1-D `values` mapped to the quantiles of 1-D `ref` at their mid-ranks."""
    compute = torch.float64 if values.dtype == torch.float64 else torch.float32
    v = values.detach().to(compute).contiguous()
    # Runs of equal values (common after quantisation) share the rank at their middle.
    runs, counts = torch.unique_consecutive(_sorted(v), return_counts=True)
    # Ranks in float64: float32 counts in steps of 4 beyond 2**25 pixels.
    rank = (counts.cumsum(0) - counts).double() + (counts - 1).double() * 0.5
    target = _sorted(ref.detach().to(compute).contiguous())
    # Rank r of n is quantile (r + 0.5) / n, the middle of its 1/n of the distribution: then
    # an output holding each input value k times (nearest upscaling) maps to itself exactly
    # (multiplied before divided, so that k + 0.5 comes out exact).
    pos = ((rank + 0.5) * target.numel() / v.numel() - 0.5).clamp_(0, target.numel() - 1)
    low = pos.floor().long()
    high = (low + 1).clamp_(max=target.numel() - 1)
    mapped = torch.lerp(target[low], target[high], (pos - low).to(compute))
    return mapped[_run_of(runs, v)].to(values.dtype)


# On CPU numpy's sort is vectorised (AVX-512 / AVX2): 8.3M floats took 0.08 s against
# torch.sort's 1.2 s, which also builds an index not needed here; each value then finds its
# run by binary search.
def _sorted(x: Tensor) -> Tensor:
    if x.device.type == "cpu":
        return torch.from_numpy(np.sort(x.numpy()))
    return torch.sort(x).values


def _run_of(runs: Tensor, x: Tensor) -> Tensor:
    if x.device.type == "cpu":
        return torch.from_numpy(np.searchsorted(runs.numpy(), x.numpy()))
    return torch.searchsorted(runs, x)


def match_mean_std(out: Tensor, ref: Tensor, *, eps: float = 1e-6) -> Tensor:
    """`out` (N, C, H, W) with each channel's mean and standard deviation set to those of
    `ref` (N, C, h, w). A flat channel (std < eps) is only shifted. Not clamped."""
    _check_pair(out, ref)
    compute = torch.float64 if out.dtype == torch.float64 else torch.float32
    o, r = out.to(compute), ref.to(compute)
    o_std, o_mean = torch.std_mean(o, dim=(2, 3), keepdim=True, correction=0)
    r_std, r_mean = torch.std_mean(r, dim=(2, 3), keepdim=True, correction=0)
    gain = torch.where(o_std > eps, r_std / o_std.clamp(min=eps), torch.ones_like(o_std))
    return ((o - o_mean) * gain + r_mean).to(out.dtype)


def match_mean(out: Tensor, ref: Tensor) -> Tensor:
    """`out` with each channel shifted to `ref`'s mean (what luma gets). Not clamped."""
    _check_pair(out, ref)
    compute = torch.float64 if out.dtype == torch.float64 else torch.float32
    o = out.to(compute)
    shift = ref.to(compute).mean(dim=(2, 3), keepdim=True) - o.mean(dim=(2, 3), keepdim=True)
    return (o + shift).to(out.dtype)


def apply_color_fix(out: Tensor, ref: Tensor, mode: str) -> Tensor:
    """The colour fix `mode` ("hist", "meanstd" or "none") of the upscaled `out`
    (N, C, H, W) in [0, 1] against its input `ref` (N, C, h, w), C = 1 or 3, clamped to
    [0, 1]; "none" returns `out` itself. Colour space: see the module's docstring."""
    check_mode(mode)
    if mode == "none":
        return out
    _check_pair(out, ref)
    if out.shape[1] not in (1, 3):
        raise ConfigError(f"colour fix: expected 1 or 3 channels, got {out.shape[1]}")
    fixed = _transfer(_working(out), _working(ref), mode)
    return (ycbcr_to_rgb(fixed) if out.shape[1] == 3 else fixed).clamp_(0.0, 1.0)


def _working(x: Tensor) -> Tensor:
    """The colour space the transfer runs in: YCbCr for RGB, gray as it is (its own luma)."""
    return rgb_to_ycbcr(x) if x.shape[1] == 3 else x


def _transfer(work: Tensor, ref: Tensor, mode: str) -> Tensor:
    """Luma (channel 0) shifted to ref's mean, chroma (1, 2) transferred; in place."""
    work[:, :1] = match_mean(work[:, :1], ref[:, :1])
    if work.shape[1] == 3:
        transfer = match_histogram if mode == "hist" else match_mean_std
        work[:, 1:] = transfer(work[:, 1:], ref[:, 1:])
    return work


# Pixels of the output converted at a time by fix_pixels: a few MB of float, not the image's.
_BAND = 1 << 20


def fix_pixels(out: np.ndarray, ref: np.ndarray, mode: str,
               device: torch.device | str = "cpu") -> None:
    """`apply_color_fix` on a whole upscaled picture, in place: `out` (s*H, s*W, C) and its
    input `ref` (H, W, C), integer arrays of one dtype (uint8 or uint16), re-quantised the
    way the tiles were written (round half up). Holds one float copy of `out` (plus, for
    "hist", one channel's sort); the colour conversions run in bands of pixels, as one
    3x3 affine each (sr_engine.color's matrices)."""
    check_mode(mode)
    if mode == "none":
        return
    if out.dtype != ref.dtype or out.ndim != 3 or out.shape[2:] != ref.shape[2:]:
        raise ConfigError(f"colour fix: expected (H, W, C) pixels of one dtype, got "
                          f"{out.shape} {out.dtype} and {ref.shape} {ref.dtype}")
    top = float(np.iinfo(out.dtype).max)
    dtype = torch.uint8 if out.dtype == np.uint8 else torch.int32  # as picture._write_tiles
    height, width, channels = out.shape
    to_work, from_work = _affines(channels, top, device)

    def working(a: np.ndarray) -> Tensor:  # (n, C) integer levels -> (n, C) working space
        x = torch.from_numpy(np.array(a)).to(device)  # a copy: `a` may be read-only
        return torch.nn.functional.linear(x.float(), *to_work)

    flat = out.reshape(-1, channels)  # a view: out is written through it
    with torch.inference_mode():
        work = torch.empty((flat.shape[0], channels), device=device)
        for i in range(0, flat.shape[0], _BAND):
            work[i:i + _BAND] = working(flat[i:i + _BAND])
        planes = work.t().reshape(1, channels, height, width)  # a view of `work`
        reference = working(ref.reshape(-1, channels)).t().reshape(1, channels, *ref.shape[:2])
        _transfer(planes, reference, mode)
        for i in range(0, flat.shape[0], _BAND):
            levels = torch.nn.functional.linear(work[i:i + _BAND], *from_work)
            flat[i:i + _BAND] = levels.clamp_(0.0, top).add_(0.5).to(dtype).cpu().numpy()


def _affines(channels: int, top: float, device: torch.device | str
             ) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """(weight, bias) from integer levels to the working space and back, for
    torch.nn.functional.linear: sr_engine.color's conversion, read off its functions."""
    if channels == 1:
        one, zero = torch.ones(1, 1), torch.zeros(1)
        return ((one / top).to(device), zero.to(device)), ((one * top).to(device),
                                                            zero.to(device))
    basis = torch.cat([torch.zeros(1, 3), torch.eye(3)]).to(torch.float64).view(4, 3, 1, 1)
    ycc, rgb = rgb_to_ycbcr(basis).view(4, 3), ycbcr_to_rgb(basis).view(4, 3)
    fwd, fwd_off = (ycc[1:] - ycc[0]).t() / top, ycc[0]
    inv, inv_off = (rgb[1:] - rgb[0]).t() * top, rgb[0] * top

    def ready(*ts: Tensor) -> tuple[Tensor, Tensor]:
        return ts[0].float().to(device), ts[1].float().to(device)

    return ready(fwd, fwd_off), ready(inv, inv_off)


def check_mode(mode: str) -> None:
    if mode not in COLOR_FIX_MODES:
        raise ConfigError(f"color_fix: expected one of {list(COLOR_FIX_MODES)}, got {mode!r}")


def resolve_color_fix(mode: str, meta: CheckpointMeta | None) -> str:
    """The mode to run: "auto" is what the checkpoint's metadata asks for (`color_fix`;
    "none" for every PSNR-trained model, and for models without weights); others as given."""
    if mode != "auto":
        check_mode(mode)
        return mode
    return meta.color_fix if meta is not None else "none"


def _check_pair(out: Tensor, ref: Tensor) -> None:
    if out.dim() != 4 or ref.dim() != 4 or out.shape[:2] != ref.shape[:2]:
        raise ConfigError(f"colour fix: expected (N, C, H, W) output and input of the same "
                          f"N and C, got {tuple(out.shape)} and {tuple(ref.shape)}")
    if not (out.is_floating_point() and ref.is_floating_point()):
        raise ConfigError("colour fix: expected float tensors in [0, 1]")


__all__ = ["COLOR_FIX_MODES", "ColorFixMode", "apply_color_fix", "fix_pixels",
           "match_histogram", "match_mean", "match_mean_std", "resolve_color_fix"]
