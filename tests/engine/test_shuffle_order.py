"""Training on CPU rewrites conv + PixelShuffle to compute in pixel order
(sr_engine.archs.shuffle): for every registered architecture the rewritten model keeps its
state dict keys, computes the same outputs and gradients, and still goes through the fused
inference graph (validation during training runs the rewritten model)."""

from __future__ import annotations

import copy

import pytest
import torch

from sr_engine.archs.shuffle import shuffle_in_pixel_order
from sr_engine.inference.fuse import fuse
from sr_engine.registry import list_models
from tests.engine.test_inference import make_model

SPECS = list_models(kind=None)
# Upsamplers with more than one output channel per sub-pixel (a Y model's is already in
# pixel order): EDSR's and SRResNet's two x2 stages at x4, VESPCN's Y one is left alone.
REWRITTEN = {"edsr": 2, "srresnet": 2, "srgan": 2}


def _pair(spec):
    made = make_model(spec, max(spec.scales))
    module = made.module.to(memory_format=torch.channels_last)
    rewritten = copy.deepcopy(module)
    count = shuffle_in_pixel_order(rewritten)
    return made, module, rewritten.to(memory_format=torch.channels_last), count


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_the_rewrite_keeps_the_state_dict_outputs_and_gradients(spec):
    made, module, rewritten, count = _pair(spec)
    assert count == REWRITTEN.get(spec.id, 0)
    assert list(rewritten.state_dict()) == list(module.state_dict())
    x = torch.rand(2, made.in_channels, 13, 11).contiguous(
        memory_format=torch.channels_last)
    torch.manual_seed(0)
    y = module.train()(x)
    torch.manual_seed(0)
    z = rewritten.train()(x)
    assert torch.equal(y, z)
    if not y.requires_grad:  # bicubic: nothing to train
        return
    y.square().mean().backward()
    z.square().mean().backward()
    for (name, p), q in zip(module.named_parameters(), rewritten.parameters(), strict=True):
        assert p.grad is None and q.grad is None or torch.allclose(p.grad, q.grad, atol=1e-7), \
            name


@pytest.mark.parametrize("arch", sorted(REWRITTEN))
def test_a_rewritten_model_still_fuses_for_inference(arch):
    spec = next(s for s in SPECS if s.id == arch)
    made, module, rewritten, _ = _pair(spec)
    example = torch.rand(1, made.in_channels, 16, 16).contiguous(
        memory_format=torch.channels_last)
    graph = fuse(rewritten.eval(), example)
    with torch.inference_mode():
        assert (graph(example) - module.eval()(example)).abs().max() <= 1e-5

