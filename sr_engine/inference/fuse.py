"""A network's graph rewritten for oneDNN on CPU: `fuse(module, example)`.

Why: on a CPU with AMX a bf16 EDSR-baseline x4 forward spent about 40% of its time outside
the convolutions (an AMX Xeon, 2 cores, 480x320): the ReLU after a conv and the residual add
after one each read and wrote the whole feature map again, and pixel shuffle on channels_last
gathered 2-byte values from strided places. `torch.jit.freeze` fuses these in fp32 but not
in bf16. Here, with torch.fx:

- every Conv2d (zero padding) runs as oneDNN's fused convolution
  (`mkldnn::_convolution_pointwise`). Its weights are not reordered ahead: weights
  pre-packed for the input size measured no faster (EDSR x4 bf16, 480x320 and 200x200, AMX
  Xeon: within 2%, either way), and a packed weight ties the graph to one size;
- a ReLU that is a conv's only use runs inside the conv (a post-op);
- an add of a conv's output (its only use) and a tensor of the same shape runs inside the
  conv (a binary post-op), so `x + conv(y)` and `conv(y).add_(x)` cost one conv, and when
  nothing reads x again the sum is written into x: a residual trunk then allocates one
  feature map per block, not two (fewer page faults, a lower peak);
- a conv whose only use is a PixelShuffle writes its channels in (r, r, C) order instead of
  (C, r, r) (its weights permuted once), so on channels_last the shuffle copies whole
  C-channel pixels: one contiguous copy instead of a gather.

BatchNorm after a conv is folded into it first (torch.fx's own pass). The result computes
the same function; its rounding differs (a fused add happens before the output is rounded
to bf16), which `sr-engine benchmark` measures per model like the other ways ("bf16-fused"
in precision.json). Untraceable modules raise; sr_engine.inference.fast then keeps another
way.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn
from torch.fx.experimental.optimization import fuse as fold_batchnorm
from torch.fx.passes.shape_prop import ShapeProp

from sr_engine.archs.common import upsample_bicubic
from sr_engine.archs.shuffle import pixel_order, shuffle_pixels

_RELU_MODULES = (nn.ReLU,)
_RELU_CALLS = {F.relu, torch.relu, torch.relu_}
_RELU_METHODS = {"relu", "relu_"}
_ADD_CALLS = {operator.add, operator.iadd, torch.add}
_ADD_METHODS = {"add", "add_"}


class FusedConv(nn.Module):
    """A Conv2d as one oneDNN call, with an optional ReLU or residual add inside it; an add
    into `other` itself (`into_other`) where the graph never reads `other` again."""

    def __init__(self, conv: nn.Conv2d, *, relu: bool = False, add: bool = False,
                 into_other: bool = False) -> None:
        super().__init__()
        self.padding, self.stride = list(conv.padding), list(conv.stride)
        self.dilation, self.groups = list(conv.dilation), conv.groups
        self.relu, self.add, self.into_other = relu, add, into_other
        self.register_buffer("weight", conv.weight.detach())
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach())

    def forward(self, x: Tensor, other: Tensor | None = None) -> Tensor:
        args = (self.weight, self.bias, self.padding, self.stride, self.dilation, self.groups)
        if other is None:
            return torch.ops.mkldnn._convolution_pointwise(
                x, *args, "relu" if self.relu else "none", [], "")
        if self.into_other:
            return torch.ops.mkldnn._convolution_pointwise_.binary(
                other, x, *args, "add", None, None, [], None)
        return torch.ops.mkldnn._convolution_pointwise.binary(
            x, other, *args, "add", None, None, [], None)


def fuse(module: nn.Module, example: Tensor) -> fx.GraphModule:
    """`module` (eval mode; weights in the dtype it will run in) rewritten as above.
    `example`: an input it runs on (tells which adds have matching shapes)."""
    tracer = fx.Tracer(autowrap_functions=(upsample_bicubic,))  # runs outside autocast
    traced = fx.GraphModule(module, tracer.trace(module))
    graph_module = fold_batchnorm(traced, inplace=False)
    ShapeProp(graph_module).propagate(example)
    modules = dict(graph_module.named_modules())
    graph = graph_module.graph
    for index, node in enumerate(list(graph.nodes)):
        conv = modules.get(node.target) if node.op == "call_module" else None
        if type(conv) is not nn.Conv2d or conv.padding_mode != "zeros":
            continue
        (source,) = node.args
        user = next(iter(node.users)) if len(node.users) == 1 else None
        other = _added(node, user) if user is not None else None
        factor = _shuffle_factor(user, modules) if user is not None and conv.groups == 1 \
            else None
        if factor:
            conv = _channels_to_pixel_order(conv, factor)
        fused = FusedConv(conv, relu=user is not None and _is_relu(user, modules),
                          add=other is not None,
                          into_other=other is not None and _last_use(other, user, graph))
        name = f"fused_conv_{index}"
        graph_module.add_submodule(name, fused)
        replaced = user if (fused.relu or fused.add or factor) else node
        with graph.inserting_before(replaced):
            if factor:
                call = graph.call_function(shuffle_pixels, (graph.call_module(name, (source,)),
                                                            factor))
            else:
                call = graph.call_module(name, (source, other) if other is not None
                                         else (source,))
        call.meta = dict(replaced.meta)  # later convs read their input's shape from it
        replaced.replace_all_uses_with(call)
        graph.erase_node(replaced)
        if replaced is not node:
            graph.erase_node(node)
    graph.lint()
    graph_module.delete_all_unused_submodules()
    graph_module.recompile()
    return graph_module


def _is_relu(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    if node.op == "call_module":
        return isinstance(modules.get(node.target), _RELU_MODULES)
    return (node.op == "call_function" and node.target in _RELU_CALLS and not node.kwargs) \
        or (node.op == "call_method" and node.target in _RELU_METHODS)


def _added(conv: fx.Node, node: fx.Node) -> fx.Node | None:
    """The tensor `node` adds to conv's output, when the conv can do the add itself."""
    if node.kwargs or len(node.args) != 2:
        return None
    if not ((node.op == "call_function" and node.target in _ADD_CALLS)
            or (node.op == "call_method" and node.target in _ADD_METHODS)):
        return None
    if node.op == "call_method" and node.args[0] is not conv:
        return None  # other.add_(conv) writes into other: not the conv's output
    other = node.args[1] if node.args[0] is conv else node.args[0]
    if not isinstance(other, fx.Node) or other is conv or "tensor_meta" not in other.meta:
        return None
    mine, theirs = conv.meta["tensor_meta"], other.meta["tensor_meta"]
    return other if (theirs.shape, theirs.dtype) == (mine.shape, mine.dtype) else None


def _last_use(other: fx.Node, node: fx.Node, graph: fx.Graph) -> bool:
    """Is `node` the last reader of `other`, a fresh tensor of this graph (a fused conv's
    output, so no view of an input or a weight)?"""
    if other.op != "call_module" or not other.target.startswith("fused_conv_"):
        return False
    order = {n: i for i, n in enumerate(graph.nodes)}
    return all(order[u] <= order[node] for u in other.users)


def _shuffle_factor(node: fx.Node, modules: dict[str, nn.Module]) -> int | None:
    if node.op == "call_module" and isinstance(modules.get(node.target), nn.PixelShuffle):
        return modules[node.target].upscale_factor
    pixel_shuffle: Callable[..., Tensor] = F.pixel_shuffle
    if node.op == "call_function" and node.target in (pixel_shuffle, torch.pixel_shuffle) \
            and len(node.args) == 2 and isinstance(node.args[1], int):
        return node.args[1]
    return None


def _channels_to_pixel_order(conv: nn.Conv2d, factor: int) -> nn.Conv2d:
    """A copy of `conv` whose output channels are in (r, r, C) order instead of (C, r, r)."""
    order = pixel_order(conv.out_channels, factor)
    copy = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size,
                     stride=conv.stride, padding=conv.padding, dilation=conv.dilation,
                     groups=conv.groups, bias=conv.bias is not None)
    copy = copy.to(device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        copy.weight.copy_(conv.weight[order])
        if conv.bias is not None:
            copy.bias.copy_(conv.bias[order])
    return copy
