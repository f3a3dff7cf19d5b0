"""MATLAB-compatible bicubic resampling: the ONLY home of resampling in the project.

`imresize` reproduces MATLAB `imresize(img, scale, 'bicubic')` on floats: cubic kernel with
a = -0.5, the kernel widened by 1/scale when downscaling (antialiasing), MATLAB's symmetric
index mirroring at the borders and output size `ceil(in * scale)`. It is separable and
linear; each output depends only on inputs within the kernel support, so tiles resized with
enough overlap match the whole image.

Weights are computed once per (in, out, scale) in float64 and applied as matrix products on
CPU (banded into chunks for long axes, so cost grows linearly) and as a gather + weighted sum
on other devices (exact float32 there even when TF32 matmuls are enabled globally).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

from sr_engine.errors import ConfigError

ArrayOrTensor = TypeVar("ArrayOrTensor", np.ndarray, Tensor)

# Output rows per matmul chunk are chosen so that each chunk reads about this many inputs.
_CHUNK_INPUTS = 64


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic convolution kernel with a = -0.5, as in MATLAB's imresize."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


def _mirror(idx: np.ndarray, length: int) -> np.ndarray:
    """MATLAB's aux = [1:n, n:-1:1] symmetric indexing, 0-based (edge pixels repeated)."""
    m = np.mod(idx, 2 * length)
    return np.where(m < length, m, 2 * length - 1 - m)


@lru_cache(maxsize=256)
def contributions(in_len: int, out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights (out_len, P) float64 and 0-based input indices (out_len, P) of one axis.

    Follows MATLAB imresize's `contributions()`: rows sum to 1, all-zero columns removed.
    """
    kernel_width = 4.0 / scale if scale < 1 else 4.0
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)  # output pixel centre in 1-based input coords
    left = np.floor(u - kernel_width / 2.0)
    taps = int(math.ceil(kernel_width)) + 2
    idx = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    dist = u[:, None] - idx
    weights = scale * _cubic(scale * dist) if scale < 1 else _cubic(dist)
    weights = weights / weights.sum(axis=1, keepdims=True)
    keep = np.any(weights != 0, axis=0)
    weights, idx = weights[:, keep], _mirror(idx[:, keep].astype(np.int64) - 1, in_len)
    weights.setflags(write=False)  # cached: shared by every caller
    idx.setflags(write=False)
    return weights, idx


@dataclass(frozen=True)
class _AxisPlan:
    """Device tensors that resize one axis: gather form and banded-matmul form."""

    weights: Tensor  # (out, P)
    indices: Tensor  # (out, P) int64
    chunks: tuple[tuple[int, int, int, int, Tensor], ...]  # (o0, o1, i0, i1, M[o0:o1, i0:i1])


@lru_cache(maxsize=128)
def _plan(in_len: int, out_len: int, scale: float, device: torch.device,
          dtype: torch.dtype) -> _AxisPlan:
    weights, idx = contributions(in_len, out_len, scale)
    step = max(16, int(_CHUNK_INPUTS * scale))
    chunks = []
    for o0 in range(0, out_len, step):
        o1 = min(o0 + step, out_len)
        i0, i1 = int(idx[o0:o1].min()), int(idx[o0:o1].max()) + 1
        block = np.zeros((o1 - o0, i1 - i0), dtype=np.float64)
        rows = np.arange(o1 - o0)[:, None]
        np.add.at(block, (rows, idx[o0:o1] - i0), weights[o0:o1])  # mirrored taps may repeat
        chunks.append((o0, o1, i0, i1, torch.from_numpy(block).to(device=device, dtype=dtype)))
    return _AxisPlan(weights=torch.tensor(weights, device=device, dtype=dtype),
                     indices=torch.tensor(idx, device=device),
                     chunks=tuple(chunks))


def _resize_axis(x: Tensor, dim: int, out_len: int, scale: float) -> Tensor:
    """Resize `x` along `dim` (-2 = H or -1 = W)."""
    plan = _plan(x.shape[dim], out_len, scale, x.device, x.dtype)
    return _banded(x, dim, plan) if x.device.type == "cpu" else _gathered(x, dim, plan)


def _banded(x: Tensor, dim: int, plan: _AxisPlan) -> Tensor:
    """Chunked matrix products: each output chunk reads only its band of inputs."""
    parts = []
    for _o0, _o1, i0, i1, block in plan.chunks:
        piece = x.narrow(dim, i0, i1 - i0)
        parts.append(block @ piece if dim == -2 else piece @ block.T)
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=dim)


def _gathered(x: Tensor, dim: int, plan: _AxisPlan) -> Tensor:
    """Weighted sum of gathered taps: elementwise, so exact float32 even with TF32 enabled."""
    shape = (-1, 1) if dim == -2 else (-1,)
    out = x.index_select(dim, plan.indices[:, 0]) * plan.weights[:, 0].view(shape)
    for p in range(1, plan.weights.shape[1]):
        out = out + x.index_select(dim, plan.indices[:, p]) * plan.weights[:, p].view(shape)
    return out


def imresize(x: Tensor, scale: float | None = None, *,
             size: tuple[int, int] | None = None) -> Tensor:
    """MATLAB `imresize(x, scale, 'bicubic')` (antialiased when shrinking) on float tensors.

    x: (..., H, W), typically (N, C, H, W), any float dtype, any value range (no clamping,
    no rounding). Give either `scale` (output `ceil(H*scale) x ceil(W*scale)`) or
    `size=(out_h, out_w)` (per-axis scale out/in). Computed in float32 (float64 for float64
    input) on x's device; returned in x's dtype. Differentiable.
    """
    if (scale is None) == (size is None):
        raise ConfigError("imresize: give exactly one of scale or size")
    if not torch.is_floating_point(x) or x.dim() < 2:
        raise ConfigError(f"imresize: expected a float tensor (..., H, W), got {x.dtype} "
                          f"of shape {tuple(x.shape)}")
    in_h, in_w = x.shape[-2:]
    if size is not None:
        out_h, out_w = int(size[0]), int(size[1])
        scales = (out_h / in_h, out_w / in_w)
    else:
        if not scale > 0:
            raise ConfigError(f"imresize: scale must be positive, got {scale}")
        out_h, out_w = math.ceil(in_h * scale), math.ceil(in_w * scale)
        scales = (float(scale), float(scale))
    if min(out_h, out_w, in_h, in_w) < 1:
        raise ConfigError(f"imresize: cannot resize {in_h}x{in_w} to {out_h}x{out_w}")
    compute = torch.float64 if x.dtype == torch.float64 else torch.float32
    with torch.autocast(x.device.type, enabled=False):  # autocast would run the matmuls in bf16
        y = _resize(x.to(compute), (out_h, out_w), scales)
    return y.to(x.dtype)


def _resize(y: Tensor, out_size: tuple[int, int], scales: tuple[float, float]) -> Tensor:
    out_h, out_w = out_size
    # MATLAB resizes the axis with the smaller scale first (H first on ties).
    order = [(-2, out_h, scales[0]), (-1, out_w, scales[1])]
    if scales[1] < scales[0]:
        order.reverse()
    for dim, out_len, s in order:
        if out_len != y.shape[dim] or s != 1.0:
            y = _resize_axis(y, dim, out_len, s)
    return y


def modcrop(img: ArrayOrTensor, scale: int) -> ArrayOrTensor:
    """Crop H and W down to multiples of `scale` (top-left anchored, as MATLAB `modcrop`).

    numpy arrays are (H, W) or (H, W, C); tensors are (..., H, W).
    """
    if isinstance(img, Tensor):
        h, w = img.shape[-2:]
        return img[..., : h - h % scale, : w - w % scale]
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale, ...]


def round_half_away(x: Tensor) -> Tensor:
    """Round to nearest integer, halves away from zero, as MATLAB `round` and `uint8()` do."""
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def to_uint8(x: Tensor) -> Tensor:
    """[0, 1] float -> uint8 tensor like MATLAB im2uint8: x*255, round half away, saturate."""
    return round_half_away(x.to(torch.float64 if x.dtype == torch.float64 else torch.float32)
                           * 255.0).clamp_(0, 255).to(torch.uint8)


def quantize(x: Tensor) -> Tensor:
    """[0, 1] float -> same dtype, snapped to the 256 levels of `to_uint8` (k / 255)."""
    return to_uint8(x).to(x.dtype) / 255.0


__all__ = ["contributions", "imresize", "modcrop", "quantize", "round_half_away", "to_uint8"]
