"""precision = "auto" for inference: the fastest precision this device runs well, for models
whose outputs it does not hurt.

Speed: reduced precision pays on some chips and is a trap on others (bf16 is emulated on
AVX2-only CPUs: measured 12x slower than fp32 here; 4x faster on an AMX Xeon), so a probe
times a 64->64 3x3 conv, channels_last, in each candidate precision on the device at hand.
The answer is cached per device and torch version in memory and in a small JSON file
(`$SR_ENGINE_CACHE`, default ~/.cache/sr-engine), so a process pays for the probe once.

Quality: `sr-engine benchmark` measures each shipped checkpoint's PSNR in reduced precision
against fp32 on the validation sets and writes the largest drop to `precision.json` beside
the weights. "auto" keeps fp32 for a model whose drop exceeds 0.01 dB, or that was never
measured in that precision.

`SR_ENGINE_PRECISION=fp32|bf16|fp16` pins auto's answer (deployments that must be
bit-stable, tests).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from sr_engine.errors import ConfigError
from sr_engine.inference.precision import AUTOCAST_DTYPES, autocast_supported
from sr_engine.machine import cpu_label
from sr_engine.paths import atomic_write_text
from sr_engine.zoo import weights_dirs

MAX_DROP_DB = 0.01  # the largest PSNR loss "auto" accepts for a faster precision
MARGIN = 0.9  # a reduced precision must be at least 10% faster: a near tie is not worth it
QUALITY_FILE = "precision.json"
CANDIDATES = {"cpu": ("bf16",), "cuda": ("fp16", "bf16")}
Probe = Callable[[torch.device, str], float]


def probe_seconds(device: torch.device, precision: str, repeats: int = 3) -> float:
    """Fastest of `repeats` inference forwards of a 64->64 3x3 conv on a 1x64x192x192 map,
    weights and input in `precision` (what sr_engine.inference.fast's "native" paths run; at
    96x96 a 2-core EPYC with avx512_bf16 ran bf16 under autocast slower than fp32, at 256x256
    twice as fast: tiles are that size). The fastest, not the median: other load only adds
    time, and under it medians picked the slower precision half the time."""
    dtype = AUTOCAST_DTYPES.get(precision, torch.float32)
    conv = nn.Conv2d(64, 64, 3, padding=1).to(device, dtype, memory_format=torch.channels_last)
    x = torch.rand(1, 64, 192, 192, device=device, dtype=dtype)
    x = x.contiguous(memory_format=torch.channels_last)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 1):  # the first call sets oneDNN / cuDNN up
            start = time.perf_counter()
            conv(x)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i:
                times.append(time.perf_counter() - start)
    return min(times)


def device_key(device: torch.device) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_label()
    return f"{device.type}:{name}:threads={torch.get_num_threads()}:torch={torch.__version__}"


def cache_file() -> Path:
    """Where measured choices are kept (this module's and sr_engine.inference.fast's)."""
    root = os.environ.get("SR_ENGINE_CACHE") or Path.home() / ".cache" / "sr-engine"
    return Path(root) / "probes.json"


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@functools.cache
def fastest_precision(device: torch.device, probe: Probe = probe_seconds) -> str:
    """The precision the device runs convs fastest in (cached in memory and on disk)."""
    key, path = device_key(device), cache_file()
    cached = read_json(path).get(key)
    if cached in ("fp32", "bf16", "fp16"):
        return cached
    best, best_s = "fp32", probe(device, "fp32")
    for precision in CANDIDATES.get(device.type, ()):
        if not autocast_supported(device.type, AUTOCAST_DTYPES[precision]):
            continue
        seconds = probe(device, precision)
        if seconds < MARGIN * best_s:
            best, best_s = precision, seconds
    with contextlib.suppress(OSError):  # a read-only home is fine: the next process probes
        atomic_write_text(path, json.dumps({**read_json(path), key: best}, indent=1))
    return best


@functools.cache
def _quality_table(folders: tuple[Path, ...]) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = {}
    for folder in folders:
        table.update(read_json(folder / QUALITY_FILE))
    return table


def precision_drop(model_name: str, precision: str) -> float | None:
    """The measured PSNR drop (dB, >= 0) of `model_name` in `precision`, or None."""
    value = _quality_table(tuple(weights_dirs())).get(model_name, {}).get(precision)
    return float(value) if isinstance(value, (int, float)) else None


def resolve_precision(precision: str, device: torch.device, model_name: str, *,
                      probe: Probe = probe_seconds) -> str:
    """`precision` itself unless it is "auto"; then the pinned, or fastest acceptable one."""
    if precision != "auto":
        return precision
    pinned = os.environ.get("SR_ENGINE_PRECISION", "").strip()
    if pinned:
        if pinned not in ("fp32", "bf16", "fp16"):
            raise ConfigError(f"SR_ENGINE_PRECISION={pinned!r}: expected fp32, bf16 or fp16")
        return pinned
    if model_name == "bicubic":  # no network: nothing to speed up
        return "fp32"
    fast = fastest_precision(device, probe)
    if fast == "fp32":
        return "fp32"
    drop = precision_drop(model_name, fast)
    return fast if drop is not None and drop <= MAX_DROP_DB else "fp32"
