"""What machine a measurement or a training run happened on (for reports and cards)."""

from __future__ import annotations

import platform
from pathlib import Path

# The instruction sets that decide which precision and kernels are fast: virtual machines
# report one model name ("AMD EPYC") for CPUs with and without native bf16.
_ISA_FLAGS = ("amx_bf16", "avx512_bf16", "avx512f", "avx2")


def _cpuinfo_field(name: str) -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(name):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_name() -> str:
    """The CPU model ("AMD EPYC", ...) from /proc/cpuinfo; platform's guess elsewhere."""
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def cpu_isa() -> str:
    """The first of amx_bf16 / avx512_bf16 / avx512f / avx2 this CPU has ("" if none or
    unknown): the widest matrix/vector unit, which is what separates one "AMD EPYC" from
    another in speed."""
    flags = set((_cpuinfo_field("flags") or "").split())
    return next((f for f in _ISA_FLAGS if f in flags), "")


def cpu_label() -> str:
    """cpu_name() with its widest ISA, e.g. "AMD EPYC (avx512_bf16)": what reports and
    caches of measured choices are keyed by."""
    isa = cpu_isa()
    return f"{cpu_name()} ({isa})" if isa else cpu_name()
