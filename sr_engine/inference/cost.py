"""What one forward of a network costs per LR input pixel, counted with forward hooks on one
small forward: convolution FLOPs (for the performance table) and activation sizes (for the
performance table's traffic figure and for choosing tiles that fit in memory)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


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


def model_cost(module: nn.Module, channels: int, size: int = 32,
               device: torch.device | str = "cpu") -> Cost:
    """Count what `module` (on `device`) does per LR pixel on a (1, channels, size, size)
    input."""
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
            module(torch.rand(1, channels, size, size, device=device))
    finally:
        for h in handles:
            h.remove()
    pixels = size * size
    return Cost(2 * macs / pixels, traffic / pixels, peak / pixels)
