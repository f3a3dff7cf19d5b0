"""Two-pass inference (sr_engine.inference.staged) for archs that split into features and
reconstruct: what tile "auto" runs when a large image does not fit one forward. Its output
equals the whole-image forward, like plain tiling's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sr_engine.data.io import Picture
from sr_engine.inference import UpscaleConfig, autotile, staged, upscale_picture, upscale_tensor
from sr_engine.inference.tensor import size_rules
from sr_engine.progress import ProgressEvent
from sr_engine.registry import get_spec, list_models
from tests.engine.test_inference import make_model

SPLIT = [s.id for s in list_models() if s.feature_halo is not None]


@pytest.fixture
def small_budget(monkeypatch):
    """A budget so small that a 60x52 image must be tiled."""
    monkeypatch.setattr(autotile, "budget_bytes", lambda device: 30 * 30 * 8 * 4 * 8)


def test_the_split_archs_are_the_residual_trunk_ones():
    assert SPLIT == ["edsr", "srresnet", "srgan"]


@pytest.mark.parametrize("arch", SPLIT)
@pytest.mark.parametrize("scale", [2, 4])
def test_features_then_reconstruct_is_the_forward(arch, scale):
    model = make_model(get_spec(arch), scale)
    x = torch.rand(1, 3, 20, 17)
    with torch.inference_mode():
        assert torch.equal(model.module.reconstruct(model.module.features(x)),
                           model.module(x))
    halo = model.spec.halo(scale, model.hparams)
    assert 0 < model.spec.feature_halo(scale, model.hparams) < halo


@pytest.mark.parametrize("arch", SPLIT)
def test_two_passes_give_the_whole_image_output_of_a_tensor(arch, small_budget):
    model = make_model(get_spec(arch), 2)
    lr = torch.rand(2, 3, 60, 52)
    stages = staged.plan(model, 60, 52, precision="fp32", rules=size_rules(model))
    assert stages is not None and stages.feature_tile > 0 and stages.reconstruct_tile > 0
    events: list[ProgressEvent] = []
    out = upscale_tensor(model, lr, tile="auto", precision="fp32", progress=events.append)
    assert torch.allclose(out, upscale_tensor(model, lr, tile=0, precision="fp32"), atol=1e-5)
    counts = [(e.current, e.total) for e in events if e.stage == "tiling" and e.current]
    assert counts[-1][0] == counts[-1][1] and len({t for _, t in counts}) == 1  # one count


def test_two_passes_give_the_whole_image_output_of_a_picture_with_alpha(small_budget):
    model = make_model(get_spec("edsr"), 3)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (61, 53, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (61, 53), dtype=np.uint8)
    picture = Picture(pixels=pixels, alpha=alpha)
    config = UpscaleConfig(scale=3, precision="fp32")
    rules = size_rules(model, extra_halo=3)
    assert staged.plan(model, 61, 53, precision="fp32", rules=rules, extra_halo=3) is not None
    assert autotile.choose_tile(model, 61, 53, precision="fp32", rules=rules, batch=1)[0] > 0
    staged_out = upscale_picture(model, picture, config)
    whole = upscale_picture(model, picture, UpscaleConfig(scale=3, precision="fp32", tile=0))
    assert np.abs(staged_out.pixels.astype(int) - whole.pixels).max() <= 1
    assert np.array_equal(staged_out.alpha, whole.alpha)


def test_archs_that_do_not_split_have_no_plan():
    model = make_model(get_spec("fsrcnn"), 2)
    assert staged.plan(model, 600, 500, precision="fp32", rules=size_rules(model)) is None
