"""The module a loaded model runs as: measured per model and device, the fastest of a few
ways of running the same weights, on CPU.

- fp32: "eager" (the channels_last module), "frozen": `torch.jit.freeze` folds the weights
  into the graph, pre-packs them for oneDNN once and fuses conv + ReLU / conv + add (measured
  1.1-1.3x on EDSR and FSRCNN, slower on ESPCN), or "fused": sr_engine.inference.fuse's
  rewrite (oneDNN convs with ReLU and adds inside, a cheaper pixel shuffle).
- bf16/fp16: "eager" under autocast (which casts every weight again on every call),
  "native" (a copy of the weights in that dtype, the input cast once), "native-frozen" or
  "native-fused" (bf16 only: the rewrite above on the copy; `torch.jit.freeze` fuses nothing
  in bf16, and on an AMX Xeon this ran EDSR x4 1.25x and VDSR x4 1.35x faster than the
  copy). Their rounding differs (autocast runs an add of a bf16 and an fp32 tensor in fp32;
  a bf16 copy runs it in bf16: VDSR x4 lost 0.019 dB that way against 0.001 dB under
  autocast), so the copies are candidates only for models whose own drop `sr-engine
  benchmark` measured ("bf16-native", "bf16-fused" in precision.json) and found harmless.

Candidates are checked against eager on an input of another size (a trace is wrong for archs
whose forward computes shapes in Python: VDSR's and SRCNN's bicubic pre-upsampling bakes its
sizes in) and dropped when they differ or fail; the rest are timed and one is kept only when
at least 5% faster than eager. The winner is kept on the LoadedModel and the decision in the
cache file beside precision auto's (`$SR_ENGINE_CACHE`), so a later process skips the timing.
`SR_ENGINE_FREEZE=0` keeps eager everywhere.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import time
import warnings
from collections.abc import Callable

import torch
from torch import Tensor, nn

from sr_engine.inference.auto import MAX_DROP_DB, cache_file, device_key, precision_drop, read_json
from sr_engine.inference.fuse import fuse
from sr_engine.inference.precision import AUTOCAST_DTYPES, precision_context, prepare_module
from sr_engine.paths import atomic_write_text
from sr_engine.zoo import LoadedModel

log = logging.getLogger(__name__)
Runnable = Callable[[Tensor], Tensor]
TRACE_SIZE, CHECK_SIZE, TIME_SIZE = (48, 48), (40, 56), (96, 96)
# Largest difference from eager (outputs in [0, 1]) a candidate may show: fp32 graphs must
# agree far below one 16-bit level; bf16/fp16 ones differ from autocast by rounding (a
# broken graph differs by far more; the quality gate in precision.json covers the rest).
TOLERANCE = {"fp32": 1e-4, "bf16": 0.05, "fp16": 0.02}
MARGIN = 0.95  # a candidate must be at least 5% faster than eager to be kept
CANDIDATES = {"fp32": ["frozen", "fused"], "bf16": ["native", "native-frozen", "native-fused"],
              "fp16": ["native", "native-frozen"]}


def runnable(model: LoadedModel, precision: str) -> Runnable:
    """What to call for `model` in `precision`: built once per loaded model."""
    return _chosen(model, precision)[1]


def stage_runnable(model: LoadedModel, precision: str, stage: str,
                   channels: int) -> Runnable:
    """`model`'s `stage` ("features" or "reconstruct": ArchSpec.feature_halo), which takes
    `channels`, run the way `runnable` runs the whole network (eager where that way cannot
    run the stage). Built once per loaded model."""
    key = f"{precision}|{stage}"
    if key not in model.runnables:
        way = _chosen(model, precision)[0]
        device = torch.device(model.device)
        module = Stage(prepare_module(model.module, device), stage)
        run: Runnable = module
        if way != "eager":
            try:
                run = _checked(_make(way, module, channels, precision), module, channels,
                               device, precision)
            except Exception as exc:  # noqa: BLE001 - as in _build: eager is always right
                log.info("%s: no %s %s path for %s (%s)", model.name, precision, way, stage,
                         exc)
        model.runnables[key] = (way, run)
    return model.runnables[key][1]


class Stage(nn.Module):
    """One stage of `net` (`net.features` or `net.reconstruct`) as a module of its own."""

    def __init__(self, net: nn.Module, stage: str) -> None:
        super().__init__()
        self.net, self.stage = net, stage

    def forward(self, x: Tensor) -> Tensor:
        return getattr(self.net, self.stage)(x)


def _chosen(model: LoadedModel, precision: str) -> tuple[str, Runnable]:
    if precision not in model.runnables:
        model.runnables[precision] = _build(model, precision)
    return model.runnables[precision]


def _build(model: LoadedModel, precision: str) -> tuple[str, Runnable]:
    device = torch.device(model.device)
    module = prepare_module(model.module, device)
    if device.type != "cpu" or os.environ.get("SR_ENGINE_FREEZE") == "0":
        return "eager", module
    names = [n for n in CANDIDATES[precision] if harmless(model.name, precision, n)]
    key = _decision_key(model, precision, names)
    decided = read_json(cache_file()).get(key)
    if decided is not None:
        names = [decided] if decided in names else []
    built: dict[str, Runnable] = {}
    for name in names:
        try:
            built[name] = build_variant(model, precision, name)
        except Exception as exc:  # untraceable or wrong: eager is always right
            log.info("%s: no %s %s path (%s)", model.name, precision, name, exc)
    if decided is None:
        eager_s = _seconds(module, model, precision)
        timed = {name: _seconds(run, model, precision) for name, run in built.items()}
        best = min(timed, key=timed.__getitem__, default="eager")
        decided = best if best != "eager" and timed[best] < MARGIN * eager_s else "eager"
        _remember(key, decided)
    return (decided, built[decided]) if decided in built else ("eager", module)


def quality_key(precision: str, name: str) -> str:
    """The precision.json entry that holds the drop of running `precision` as `name`."""
    if precision == "fp32" or name == "eager":
        return precision
    return f"{precision}-fused" if name == "native-fused" else f"{precision}-native"


def harmless(model_name: str, precision: str, name: str) -> bool:
    """May `name` run `model_name` in `precision`? fp32 ways are exact; a reduced precision's
    weight copies only where their measured drop is at most MAX_DROP_DB."""
    if precision == "fp32":
        return True
    drop = precision_drop(model_name, quality_key(precision, name))
    return drop is not None and drop <= MAX_DROP_DB


def build_variant(model: LoadedModel, precision: str, name: str) -> Runnable:
    """`model` run as `name` ("eager" or one of CANDIDATES[precision]), checked against
    eager; an error when it cannot be built or differs."""
    device = torch.device(model.device)
    module = prepare_module(model.module, device)
    if name == "eager":
        return module
    channels = model.in_channels
    return _checked(_make(name, module, channels, precision), module, channels, device,
                    precision)


def _input(channels: int, size: tuple[int, int]) -> Tensor:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(1, channels, *size, generator=generator)
    return x.contiguous(memory_format=torch.channels_last)


class _Cast(nn.Module):
    """Runs `inner` (weights in `dtype`) on an input cast to `dtype` once."""

    def __init__(self, inner: Callable[[Tensor], Tensor], dtype: torch.dtype) -> None:
        super().__init__()
        self.inner, self.dtype = inner, dtype

    def forward(self, x: Tensor) -> Tensor:
        return self.inner(x.to(self.dtype))


def _make(name: str, module: nn.Module, channels: int, precision: str) -> Runnable:
    example = _input(channels, TRACE_SIZE)
    if precision == "fp32":
        return fuse(module, example) if name == "fused" else _freeze(module, example)
    dtype = AUTOCAST_DTYPES[precision]
    low = copy.deepcopy(module).to(dtype)
    if name == "native":
        return _Cast(low, dtype)
    graph = fuse if name == "native-fused" else _freeze
    return _Cast(graph(low, example.to(dtype)), dtype)


def _freeze(module: nn.Module, example: Tensor) -> torch.jit.ScriptModule:
    # Tracer warnings say what _checked measures (Python-computed sizes). TorchScript is
    # deprecated for torch.compile, which measured slower here (EDSR x4, 480x320 on a 2-core
    # EPYC: 25 s to compile, then 7.0 s a run against 4.75 s frozen, 6.1 s eager); when
    # TorchScript goes, this fails and eager runs.
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.freeze(torch.jit.trace(module, example, check_trace=False))


def _checked(run: Runnable, module: nn.Module, channels: int, device: torch.device,
             precision: str) -> Runnable:
    """`run`, or an error when it differs from eager on an input of another size."""
    check = _input(channels, CHECK_SIZE)
    with torch.inference_mode(), precision_context(device, precision):
        diff = (run(check).float() - module(check).float()).abs().max().item()
    if not diff <= TOLERANCE[precision]:
        raise ValueError(f"it differs from eager by {diff:.2g} at another size")
    return run


def _seconds(run: Runnable, model: LoadedModel, precision: str, repeats: int = 3) -> float:
    x = _input(model.in_channels, TIME_SIZE)
    times = []
    with torch.inference_mode(), precision_context(torch.device(model.device), precision):
        for i in range(repeats + 1):  # the first call sets oneDNN up
            start = time.perf_counter()
            run(x)
            if i:
                times.append(time.perf_counter() - start)
    return min(times)  # other load only adds time: the fastest run is the fairest


def _decision_key(model: LoadedModel, precision: str, names: list[str]) -> str:
    """The cache key of a decision among `names`: the ways allowed depend on the weights
    (precision.json's drops), so a decision made without them (random weights in
    `benchmark`'s speed table: eager only) never stands for shipped weights that allow more."""
    hparams = json.dumps(model.hparams, sort_keys=True)
    return f"fast|{device_key(torch.device(model.device))}|{model.spec.id}|x{model.scale}|" \
           f"{precision}|{hparams}|{','.join(names)}"


def _remember(key: str, decision: str) -> None:
    path = cache_file()
    with contextlib.suppress(OSError):  # a read-only home: decide again next time
        atomic_write_text(path, json.dumps({**read_json(path), key: decision}, indent=1))
