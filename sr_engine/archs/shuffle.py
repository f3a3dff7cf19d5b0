"""Pixel shuffle on channels_last without the gather: a conv feeding PixelShuffle(r) writes
its output channels in (r, r, C) order instead of (C, r, r), and the shuffle then copies
whole C-channel pixels (one contiguous copy each way) instead of picking every r*r-th value.

Used by the fused inference graph (sr_engine.inference.fuse) and, through
`shuffle_in_pixel_order`, by training on CPU: in an EDSR-baseline x4 bf16 training step
(batch 16, 32 px, AMX Xeon) PixelShuffle's forward and backward took 17% of the step, and
in this order they cost half as much.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def pixel_order(channels: int, factor: int) -> Tensor:
    """Indices that reorder a PixelShuffle input's `channels` from (C, r, r) to (r, r, C)."""
    out = channels // (factor * factor)
    return torch.arange(channels).view(out, factor, factor).permute(1, 2, 0).reshape(-1)


def shuffle_pixels(x: Tensor, factor: int) -> Tensor:
    """PixelShuffle of a tensor whose channels are in (r, r, C) order: (N, r*r*C, h, w) ->
    (N, C, r*h, r*w), channels_last. Equal to F.pixel_shuffle on the (C, r, r) order.
    Constant shapes only (unflatten/flatten), so torch.fx and TorchScript can trace it."""
    pixels = x.permute(0, 2, 3, 1).unflatten(3, (factor, factor, -1))  # (N, h, w, r, r, C)
    return pixels.permute(0, 1, 3, 2, 4, 5).contiguous().flatten(1, 2).flatten(2, 3) \
        .permute(0, 3, 1, 2)


class ShuffleConv(nn.Module):
    """conv then PixelShuffle(factor), computed in pixel order. It holds the conv's own
    parameters under the conv's names, so a model rewritten with it trains the same tensors
    and saves the same state dict; outputs and gradients are the same values."""

    def __init__(self, conv: nn.Conv2d, factor: int) -> None:
        super().__init__()
        self.weight = conv.weight
        self.register_parameter("bias", conv.bias)
        self.stride, self.padding = conv.stride, conv.padding
        self.dilation, self.factor = conv.dilation, factor
        self.register_buffer("order", pixel_order(conv.out_channels, factor).to(
            conv.weight.device), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        bias = None if self.bias is None else self.bias[self.order]
        # Indexing makes a default-layout copy: a channels_last weight (the layout the model
        # was given for oneDNN) keeps this conv on the fast path.
        weight = self.weight[self.order].contiguous(memory_format=torch.channels_last)
        y = F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation)
        return shuffle_pixels(y, self.factor)


def shuffle_in_pixel_order(model: nn.Module) -> int:
    """Rewrite, in place, every Conv2d directly followed by a PixelShuffle in an
    nn.Sequential as [ShuffleConv, Identity] (state dict keys unchanged); returns how many.
    A single output channel (Y models) already is in pixel order and is left alone."""
    count = 0
    for parent in model.modules():
        if not isinstance(parent, nn.Sequential):
            continue
        for i in range(len(parent) - 1):
            conv, shuffle = parent[i], parent[i + 1]
            if type(conv) is not nn.Conv2d or not isinstance(shuffle, nn.PixelShuffle):
                continue
            factor = shuffle.upscale_factor
            if conv.groups != 1 or conv.padding_mode != "zeros" \
                    or conv.out_channels == factor * factor:
                continue
            parent[i], parent[i + 1] = ShuffleConv(conv, factor), nn.Identity()
            count += 1
    return count
