"""train.precision = "auto": bf16 autocast where it trains faster than fp32, else fp32.

Whether bf16 pays on a CPU depends on the chip, not only its flags: this project measured
it 4x faster than fp32 on a Xeon with AMX, 2x on an EPYC with avx512_bf16, and 1.7x
*slower* on a Xeon with avx512_bf16 but no AMX. So "auto" times both on the spot.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

Probe = Callable[[torch.device, str], float]

# bf16 must win by this much: a near tie is not worth its rounding.
MARGIN = 0.9


def probe_seconds(device: torch.device, precision: str, repeats: int = 5) -> float:
    """Median seconds of one forward+backward of a 64->64 3x3 conv (the zoo's workhorse)."""
    conv = nn.Conv2d(64, 64, 3, padding=1).to(device)
    x = torch.randn(8, 64, 48, 48, device=device)
    if device.type == "cpu":
        conv, x = conv.to(memory_format=torch.channels_last), x.contiguous(
            memory_format=torch.channels_last)
    times = []
    for i in range(repeats + 2):  # the first two warm up oneDNN / cuDNN
        t = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            conv(x).float().sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= 2:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def auto_precision(device: torch.device, probe: Probe = probe_seconds) -> tuple[str, str]:
    """("bf16" | "fp32", a one-line reason) for training on `device`."""
    if device.type == "cuda":
        ok = torch.cuda.is_bf16_supported()
        return ("bf16" if ok else "fp32"), f"precision auto: {'bf16' if ok else 'fp32'} on CUDA"
    fp32, bf16 = probe(device, "fp32"), probe(device, "bf16")
    choice = "bf16" if bf16 < MARGIN * fp32 else "fp32"
    return choice, (f"precision auto: {choice} (a conv step took {fp32 * 1e3:.1f} ms in fp32, "
                    f"{bf16 * 1e3:.1f} ms in bf16)")
