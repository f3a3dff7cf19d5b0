"""What the machine can do: the conv roofline and the copy bandwidth. (What a forward costs
is counted by sr_engine.inference.cost.)"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from sr_engine.inference.precision import precision_context


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
