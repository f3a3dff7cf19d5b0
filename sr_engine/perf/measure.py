"""What a forward costs (convolution FLOPs, activation traffic) and what the machine can do
(conv roofline, copy bandwidth)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from sr_engine.inference.precision import precision_context


@dataclass(frozen=True)
class Cost:
    """Per LR input pixel, for a fully convolutional model (work grows with the pixels)."""

    conv_flops: float  # 2 x multiply-accumulates of every Conv2d / ConvTranspose2d
    traffic_elems: float  # elements read + written by every leaf module (a memory-traffic floor)
    peak_elems: float  # the largest input + output of one leaf module (a memory floor)


def _conv_macs(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> int:
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return output.numel() * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.ConvTranspose2d):
        kh, kw = module.kernel_size
        return inputs[0].numel() * (module.out_channels // module.groups) * kh * kw
    return 0


def model_cost(module: nn.Module, channels: int, size: int = 32) -> Cost:
    """Count, with forward hooks on one small forward, what `module` does per LR pixel."""
    macs, traffic, peak = 0, 0, 0

    def hook(mod: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        nonlocal macs, traffic, peak
        if not isinstance(output, Tensor):
            return
        seen = sum(x.numel() for x in inputs if isinstance(x, Tensor)) + output.numel()
        macs += _conv_macs(mod, inputs, output)
        traffic += seen
        peak = max(peak, seen)

    leaves = [m for m in module.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.inference_mode():
            module(torch.rand(1, channels, size, size, device=_device_of(module)))
    finally:
        for h in handles:
            h.remove()
    pixels = size * size
    return Cost(2 * macs / pixels, traffic / pixels, peak / pixels)


def _device_of(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


def _median_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for i in range(repeats + 1):  # the first call sets oneDNN up
        start = time.perf_counter()
        run()
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def conv_roofline(precision: str, *, size: int = 256, repeats: int = 5) -> float:
    """GFLOP/s of a 64->64 3x3 conv on a 1x64xSxS channels_last map in `precision` (CPU):
    the densest work an SR network does, so the ceiling its convolutions can reach."""
    conv = nn.Conv2d(64, 64, 3, padding=1).eval().to(memory_format=torch.channels_last)
    x = torch.rand(1, 64, size, size).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), precision_context(torch.device("cpu"), precision):
        seconds = _median_seconds(lambda: conv(x), repeats)
    return 2 * 64 * 64 * 9 * size * size / seconds / 1e9


def copy_bandwidth(mib: int = 256, repeats: int = 5) -> float:
    """GB/s of copying a `mib` MiB float32 tensor (bytes read + written)."""
    src = torch.rand(mib * 2**20 // 4)
    dst = torch.empty_like(src)
    seconds = _median_seconds(lambda: dst.copy_(src), repeats)
    return 2 * src.numel() * 4 / seconds / 1e9
