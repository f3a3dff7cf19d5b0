"""Freed memory kept for the next tensor (glibc's malloc, Linux).

Why: glibc serves every allocation over its mmap threshold (32 MiB at most) with fresh pages
from the kernel and unmaps them when freed, so each feature map of a large image is paid for
again in page faults and page zeroing: EDSR x4 in bf16 on a 2000x1500 input took 13.9-14.4 s
wall, 10 s of it system time (5.9 million page faults; AMX Xeon, 2 cores, fused graph, two
passes). Served from the heap and kept there, the same run took 9.1-9.3 s with 1.4 s of
system time, its peak resident memory 1.70 GB instead of 1.07 GB. Inference calls
`reuse_freed_memory` once per process (`SR_ENGINE_MALLOC=0` leaves the allocator alone); a
worker calls `release_freed_memory` after each job, so it gives back what it is done with.
Elsewhere (another libc, another OS) both do nothing.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

# mallopt(3) parameters, from glibc's malloc.h.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
# Tensors up to this size come from the heap; top-of-heap free space up to it stays there.
KEEP_BYTES = 1 << 30


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - glibc has both; musl has neither
    except (OSError, AttributeError):
        return None
    return libc


@functools.cache
def reuse_freed_memory() -> bool:
    """Make this process keep freed tensor memory for reuse; True when it now does."""
    libc = _glibc()
    if libc is None or os.environ.get("SR_ENGINE_MALLOC") == "0":
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, KEEP_BYTES)
                and libc.mallopt(M_TRIM_THRESHOLD, KEEP_BYTES))


def release_freed_memory() -> None:
    """Give the heap's free pages back to the kernel (after a job)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
