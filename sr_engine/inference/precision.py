"""One network forward on a batch of tiles: device, memory format and precision."""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn

from sr_engine.errors import ConfigError, EngineError

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@functools.cache
def autocast_supported(device_type: str, dtype: torch.dtype) -> bool:
    """Can this torch build autocast to `dtype` on `device_type`?"""
    # torch disables (with a warning) rather than refuses an autocast dtype it cannot do.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.autocast(device_type, dtype=dtype):
            return (torch.is_autocast_enabled(device_type)
                    and torch.get_autocast_dtype(device_type) == dtype)


@contextlib.contextmanager
def precision_context(device: torch.device, precision: str) -> Iterator[None]:
    """Autocast for "bf16"/"fp16", nothing for "fp32"; unsupported combinations are errors."""
    if precision == "fp32":
        yield
        return
    if precision not in AUTOCAST_DTYPES:
        raise ConfigError(f"precision: {precision!r} is not one of fp32, bf16, fp16")
    dtype = AUTOCAST_DTYPES[precision]
    if not autocast_supported(device.type, dtype):
        hint = "; use bf16" if device.type == "cpu" else ""
        raise EngineError(f"this torch build cannot run {precision} on {device.type}{hint}")
    with torch.autocast(device.type, dtype=dtype):
        yield


def prepare_module(module: nn.Module, device: torch.device) -> nn.Module:
    """Put the module in eval mode; on CPU use channels_last (several times faster convs).

    Mutates `module`: meant for inference-only modules such as `LoadedModel.module`.
    """
    module.eval()
    if device.type == "cpu":
        module.to(memory_format=torch.channels_last)
    return module


def forward(module: Callable[[Tensor], Tensor], x: Tensor, *, device: torch.device,
            precision: str) -> Tensor:
    """Run `module` (a module, or sr_engine.inference.fast's frozen one) on x (N, C, h, w)
    float in [0, 1] (any device).

    Returns (N, C, s*h, s*w) float32 in [0, 1] on `device`. Call under torch.inference_mode().
    """
    x = x.to(device=device, dtype=torch.float32)
    if device.type == "cpu":
        x = x.contiguous(memory_format=torch.channels_last)
    with precision_context(device, precision):
        y = module(x)
    # In place: an upscaled output is a fresh tensor, never an alias of the smaller input.
    return y.float().clamp_(0.0, 1.0)
