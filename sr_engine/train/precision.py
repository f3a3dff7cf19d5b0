"""train.precision = "auto": bf16 autocast where it trains faster than fp32, else fp32.

Whether bf16 pays on a CPU depends on the chip, not only its flags: this project measured
it 4x faster than fp32 on a Xeon with AMX, 2x on an EPYC with avx512_bf16, 1.7x
*slower* on a Xeon with avx512_bf16 but no AMX, and ~17x slower (inference, emulated bf16) on an
EPYC with AVX2 only. So "auto" times both on the spot.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import nn

Probe = Callable[[str], float]

# bf16 must win by this much: a near tie is not worth its rounding.
MARGIN = 0.9


def probe_seconds(precision: str, repeats: int = 3) -> float:
    """Fastest CPU seconds of `repeats` forward+backward passes of a 64->64 3x3 conv (the
    zoo's workhorse), channels_last as training runs it. The fastest, not the median: other
    load only ever adds time, and medians picked fp32 in half of six trials on a loaded
    2-core EPYC where bf16 is twice as fast (the fastest picked bf16 in all six)."""
    conv = nn.Conv2d(64, 64, 3, padding=1).to(memory_format=torch.channels_last)
    x = torch.randn(8, 64, 48, 48).contiguous(memory_format=torch.channels_last)
    times = []
    for i in range(repeats + 2):  # the first two warm up oneDNN
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            conv(x).float().sum().backward()
        if i >= 2:
            times.append(time.perf_counter() - t)
    return min(times)


def auto_precision(device: torch.device, probe: Probe = probe_seconds,
                   rounds: int = 3) -> tuple[str, str]:
    """("bf16" | "fp32", a one-line reason) for training on `device`.

    The two precisions are timed in alternation, each by its fastest round: on a machine
    busy with other work, timing one after the other let a change of load pick the winner.
    """
    if device.type == "cuda":
        choice = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        return choice, f"precision auto: {choice} on CUDA"
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for _ in range(rounds):
        for precision, seconds in times.items():
            seconds.append(probe(precision))
    fp32, bf16 = min(times["fp32"]), min(times["bf16"])
    choice = "bf16" if bf16 < MARGIN * fp32 else "fp32"
    return choice, (f"precision auto: {choice} (a conv step took {fp32 * 1e3:.1f} ms in fp32, "
                    f"{bf16 * 1e3:.1f} ms in bf16)")
