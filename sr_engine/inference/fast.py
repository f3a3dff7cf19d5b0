"""The module a loaded model runs as: eager, or frozen TorchScript where that is faster.

`torch.jit.freeze` folds the weights into the graph, pre-packs them for oneDNN once and fuses
conv + ReLU / conv + add: measured 1.1-1.3x on EDSR and FSRCNN, but slower on ESPCN, and
wrong for archs whose forward computes shapes in Python (VDSR's and SRCNN's bicubic
pre-upsampling is traced with its sizes baked in). So each model is traced, checked against
eager on an input of another size (a frozen graph that differs is dropped), and timed against
eager; the winner is kept on the LoadedModel and the decision in the cache file beside
precision auto's (`$SR_ENGINE_CACHE`), so a later process skips the timing. Only fp32 on CPU
is frozen (autocast does not trace); any failure falls back to eager.
`SR_ENGINE_FREEZE=0` turns it off.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import statistics
import time
import warnings
from collections.abc import Callable

import torch
from torch import Tensor, nn

from sr_engine.inference.auto import cache_file, device_key, read_json
from sr_engine.inference.precision import prepare_module
from sr_engine.paths import atomic_write_text
from sr_engine.zoo import LoadedModel

log = logging.getLogger(__name__)
Runnable = Callable[[Tensor], Tensor]
TRACE_SIZE, CHECK_SIZE, TIME_SIZE = (48, 48), (40, 56), (96, 96)
TOLERANCE = 1e-4  # outputs in [0, 1]: far below one 16-bit level
MARGIN = 0.95  # frozen must be at least 5% faster to be kept


def runnable(model: LoadedModel, precision: str) -> Runnable:
    """What to call for `model` in `precision`: built once per loaded model."""
    if precision not in model.runnables:
        model.runnables[precision] = _build(model, precision)
    return model.runnables[precision]


def _build(model: LoadedModel, precision: str) -> Runnable:
    device = torch.device(model.device)
    module = prepare_module(model.module, device)
    if precision != "fp32" or device.type != "cpu" or os.environ.get("SR_ENGINE_FREEZE") == "0":
        return module
    key = _decision_key(model)
    decided = read_json(cache_file()).get(key)
    if decided == "eager":
        return module
    try:
        frozen = _freeze(module, model.spec.channels)
    except Exception as exc:  # untraceable or wrong when traced: eager is always right
        log.info("%s: running eager (%s)", model.name, exc)
        _remember(key, "eager")
        return module
    if decided is None:
        decided = "frozen" if _seconds(frozen, model) < MARGIN * _seconds(module, model) \
            else "eager"
        _remember(key, decided)
    return frozen if decided == "frozen" else module


def _input(channels: int, size: tuple[int, int]) -> Tensor:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(1, channels, *size, generator=generator)
    return x.contiguous(memory_format=torch.channels_last)


def _freeze(module: nn.Module, channels: int) -> torch.jit.ScriptModule:
    """A frozen trace of `module`, or an error when it does not match eager elsewhere."""
    # Tracer warnings say what the check below measures (Python-computed sizes). TorchScript
    # is deprecated for torch.compile, which measured slower here (EDSR x4, 480x320 on a
    # 2-core EPYC: 25 s to compile, then 7.0 s a run against 4.75 s frozen, 6.1 s eager);
    # when TorchScript goes, this fails and eager runs.
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        frozen = torch.jit.freeze(torch.jit.trace(module, _input(channels, TRACE_SIZE),
                                                  check_trace=False))
    check = _input(channels, CHECK_SIZE)
    with torch.inference_mode():
        diff = (frozen(check) - module(check)).abs().max().item()
    if not diff <= TOLERANCE:
        raise ValueError(f"the frozen graph differs from eager by {diff:.2g} at another size")
    return frozen


def _seconds(run: Runnable, model: LoadedModel, repeats: int = 3) -> float:
    x = _input(model.spec.channels, TIME_SIZE)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 1):  # the first call sets oneDNN up
            start = time.perf_counter()
            run(x)
            if i:
                times.append(time.perf_counter() - start)
    return statistics.median(times)


def _decision_key(model: LoadedModel) -> str:
    hparams = json.dumps(model.hparams, sort_keys=True)
    return f"freeze|{device_key(torch.device(model.device))}|{model.spec.id}|x{model.scale}|" \
           f"{hparams}"


def _remember(key: str, decision: str) -> None:
    path = cache_file()
    with contextlib.suppress(OSError):  # a read-only home: decide again next time
        atomic_write_text(path, json.dumps({**read_json(path), key: decision}, indent=1))
