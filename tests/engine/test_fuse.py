"""sr_engine.inference.fuse: each registered architecture's graph rewritten for oneDNN
computes what its module computes, at sizes other than the example's, in fp32 and on a bf16
copy; the fusions it promises happen; what torch.fx cannot trace is an error (the fast
path then keeps another way)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

from sr_engine.archs.shuffle import shuffle_pixels
from sr_engine.inference.fast import TOLERANCE
from sr_engine.inference.fuse import FusedConv, fuse
from sr_engine.registry import ArchSpec, get_spec, list_models
from tests.engine.test_inference import make_model

# Their forwards branch or loop on tensor values or shapes in Python.
UNTRACEABLE = {"deepsr", "drcn", "vespcn"}
SPECS = [s for s in list_models(kind=None) if s.id not in UNTRACEABLE]

# oneDNN's bf16 convolution needs avx512bw/vl/dq or avx_ne_convert; on an AVX2-only CPU
# the fused bf16 graph cannot run and inference never builds it (plain bf16 still runs).
BF16_FUSE = torch.ops.mkldnn._is_mkldnn_bf16_supported()
needs_bf16_fuse = pytest.mark.skipif(not BF16_FUSE, reason="this CPU has no oneDNN bf16 "
                                     "convolution (AVX2 only): no fused bf16 graph")


def _input(channels: int, height: int, width: int) -> torch.Tensor:
    return torch.rand(1, channels, height, width).contiguous(memory_format=torch.channels_last)


def _model(spec: ArchSpec) -> nn.Module:
    return make_model(spec, max(spec.scales)).module.to(memory_format=torch.channels_last)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_the_fused_graph_computes_the_forward_at_another_size(spec):
    module = _model(spec)
    c = make_model(spec, max(spec.scales)).in_channels
    graph = fuse(module, _input(c, 24, 20))
    x = _input(c, 31, 27)
    with torch.inference_mode():
        assert (graph(x) - module(x)).abs().max() <= 1e-5


@needs_bf16_fuse
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_the_fused_graph_of_a_bf16_copy_differs_from_it_by_rounding_only(spec):
    c = make_model(spec, max(spec.scales)).in_channels
    low = copy.deepcopy(_model(spec)).to(torch.bfloat16)
    graph = fuse(low, _input(c, 24, 20).bfloat16())
    x = _input(c, 29, 33).bfloat16()
    with torch.inference_mode():
        assert (graph(x).float() - low(x).float()).abs().max() <= TOLERANCE["bf16"]


@pytest.mark.parametrize("arch", sorted(UNTRACEABLE))
def test_untraceable_archs_are_an_error(arch):
    spec = get_spec(arch)
    model = make_model(spec, max(spec.scales))
    with pytest.raises((fx.proxy.TraceError, ValueError)):  # deepsr: numpy meets a Proxy
        fuse(model.module, _input(model.in_channels, 24, 20))


def _fused(graph: fx.GraphModule) -> list[FusedConv]:
    return [m for m in graph.modules() if isinstance(m, FusedConv)]


def test_edsr_runs_its_relus_residual_adds_and_pixel_shuffles_inside_its_convs():
    model = make_model(get_spec("edsr"), 4)
    blocks = model.hparams["n_resblocks"]
    graph = fuse(model.module, _input(3, 16, 16))
    convs = _fused(graph)
    assert len(convs) == sum(isinstance(m, nn.Conv2d) for m in model.module.modules())
    assert sum(c.relu for c in convs) == blocks
    assert sum(c.add for c in convs) == blocks + 1  # each block's skip and the long skip
    called = {n.target for n in graph.graph.nodes if n.op == "call_function"}
    assert shuffle_pixels in called and F.pixel_shuffle not in called
    assert not any(isinstance(m, (nn.ReLU, nn.PixelShuffle)) for m in graph.modules())


def test_an_add_that_broadcasts_stays_outside_the_conv():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.register_buffer("shift", torch.rand(1, 4, 1, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x) + self.shift

    net = Net().eval()
    graph = fuse(net, _input(3, 9, 9))
    assert [c.add for c in _fused(graph)] == [False]
    x = _input(3, 7, 11)
    with torch.inference_mode():
        assert torch.allclose(graph(x), net(x), atol=1e-6)


def test_a_conv_whose_output_is_used_twice_keeps_its_relu_outside():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            return torch.relu(y) - y

    net = Net().eval()
    graph = fuse(net, _input(3, 9, 9))
    assert [(c.relu, c.add) for c in _fused(graph)] == [(False, False)]
    x = _input(3, 10, 6)
    with torch.inference_mode():
        assert torch.allclose(graph(x), net(x), atol=1e-6)


@pytest.mark.parametrize("factor", [2, 3])
def test_shuffling_pixel_ordered_channels_is_pixel_shuffle(factor):
    c = 5
    x = torch.rand(2, c * factor * factor, 6, 7).contiguous(memory_format=torch.channels_last)
    pixel_order = x.view(2, c, factor, factor, 6, 7).permute(0, 2, 3, 1, 4, 5) \
        .reshape(x.shape).contiguous(memory_format=torch.channels_last)
    out = shuffle_pixels(pixel_order, factor)
    assert torch.equal(out, F.pixel_shuffle(x, factor))
    assert out.is_contiguous(memory_format=torch.channels_last)
