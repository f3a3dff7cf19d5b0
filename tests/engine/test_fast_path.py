"""The fast paths (sr_engine.inference.fast): frozen and fused fp32 graphs and bf16 weight
copies, kept only where they match eager at another input size and are faster; the decision is
cached; SR_ENGINE_FREEZE=0 turns them off."""

from __future__ import annotations

import json

import pytest
import torch

from sr_engine.inference import fast
from sr_engine.inference.auto import cache_file
from sr_engine.registry import get_spec
from tests.engine.test_fuse import needs_bf16_fuse
from tests.engine.test_inference import make_model


@pytest.fixture(autouse=True)
def own_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SR_ENGINE_CACHE", str(tmp_path))
    monkeypatch.delenv("SR_ENGINE_FREEZE", raising=False)


def _decisions() -> dict:
    return {k.split("|")[2]: v for k, v in json.loads(cache_file().read_text()).items()
            if k.startswith("fast|")}


def test_a_traceable_model_is_frozen_when_faster_and_the_choice_is_kept(monkeypatch):
    timings = iter([2.0, 1.0, 1.5])  # eager first, then frozen (twice as fast), fused
    monkeypatch.setattr(fast, "_seconds", lambda run, model, precision: next(timings))
    model = make_model(get_spec("espcn"), 2)
    run = fast.runnable(model, "fp32")
    assert isinstance(run, torch.jit.ScriptModule) and fast.runnable(model, "fp32") is run
    assert _decisions() == {"espcn": "frozen"}
    x = torch.rand(1, 1, 21, 17)
    with torch.inference_mode():
        assert torch.allclose(run(x), model.module(x), atol=1e-5)
    again = make_model(get_spec("espcn"), 2)  # another process: no timing this time
    monkeypatch.setattr(fast, "_seconds",
                        lambda run, model, precision: pytest.fail("timed again"))
    assert isinstance(fast.runnable(again, "fp32"), torch.jit.ScriptModule)


def test_slower_graphs_are_not_kept(monkeypatch):
    timings = iter([1.0, 2.0, 0.96])  # fused is faster, but not by 5%
    monkeypatch.setattr(fast, "_seconds", lambda run, model, precision: next(timings))
    model = make_model(get_spec("fsrcnn"), 2)
    assert fast.runnable(model, "fp32") is model.module
    assert _decisions() == {"fsrcnn": "eager"}


@pytest.mark.parametrize("arch", ["vdsr", "srcnn"])
def test_models_whose_trace_bakes_in_sizes_are_never_frozen(monkeypatch, arch):
    """Their bicubic pre-upsampling computes sizes in Python: a trace is wrong elsewhere, so
    only the fused graph (torch.fx keeps sizes symbolic) is timed against eager."""
    timed = []
    monkeypatch.setattr(fast, "_seconds",
                        lambda run, model, precision: timed.append(run) or 2.0 - len(timed))
    model = make_model(get_spec(arch), 2)
    run = fast.runnable(model, "fp32")
    assert len(timed) == 2 and timed[0] is model.module and run is timed[1]
    assert _decisions() == {arch: "fused"}
    x = torch.rand(1, 1, 23, 19).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        assert torch.allclose(run(x), model.module(x), atol=1e-5)


@pytest.mark.parametrize(("timings", "expected"), [
    ([3.0, 2.0, 1.0, 2.0], "native-frozen"), ([3.0, 1.0, 2.0, 2.0], "native"),
    pytest.param([3.0, 2.0, 2.0, 1.0], "native-fused", marks=needs_bf16_fuse),
    ([1.0, 1.0, 1.0, 1.0], "eager")])
def test_bf16_runs_the_fastest_of_autocast_and_bf16_weight_copies(monkeypatch, timings,
                                                                  expected):
    order = iter(timings)  # eager (autocast), native, native-frozen, native-fused
    monkeypatch.setattr(fast, "_seconds", lambda run, model, precision: next(order))
    monkeypatch.setattr(fast, "precision_drop", lambda name, key: 0.0)  # measured harmless
    model = make_model(get_spec("fsrcnn"), 2)
    run = fast.runnable(model, "bf16")
    assert _decisions() == {"fsrcnn": expected}
    assert (run is model.module) == (expected == "eager")
    x = torch.rand(1, 1, 21, 17).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        y = run(x).float()
    with torch.inference_mode():
        assert (y - model.module(x)).abs().max() < fast.TOLERANCE["bf16"]


@pytest.mark.parametrize("native_drop", [0.05, None])
def test_bf16_weight_copies_are_not_candidates_unless_measured_harmless(monkeypatch,
                                                                       native_drop):
    drops = {"bf16": 0.001, "bf16-native": native_drop, "bf16-fused": native_drop}
    monkeypatch.setattr(fast, "precision_drop", lambda name, key: drops[key])
    monkeypatch.setattr(fast, "_seconds", lambda run, model, precision: 1.0)
    model = make_model(get_spec("fsrcnn"), 2)
    assert fast.runnable(model, "bf16") is model.module  # autocast: its drop was 0.001 dB
    assert _decisions() == {"fsrcnn": "eager"}


def test_the_switch_keeps_eager(monkeypatch):
    monkeypatch.setenv("SR_ENGINE_FREEZE", "0")
    for precision in ("fp32", "bf16"):
        model = make_model(get_spec("espcn"), 2)
        assert fast.runnable(model, precision) is model.module


def test_the_two_pass_stages_run_the_way_chosen_for_the_whole_network(monkeypatch):
    timings = iter([2.0, 1.5, 1.0])  # eager, frozen, fused: fused is kept
    monkeypatch.setattr(fast, "_seconds", lambda run, model, precision: next(timings))
    model = make_model(get_spec("edsr"), 2)
    for stage, channels in [("features", 3), ("reconstruct", model.hparams["n_feats"])]:
        run = fast.stage_runnable(model, "fp32", stage, channels)
        assert isinstance(run, torch.fx.GraphModule)
        assert fast.stage_runnable(model, "fp32", stage, channels) is run
        x = torch.rand(1, channels, 13, 17).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            assert torch.allclose(run(x), getattr(model.module, stage)(x), atol=1e-5)
    assert _decisions() == {"edsr": "fused"}


@needs_bf16_fuse
def test_a_fused_bf16_graph_is_a_candidate_on_its_own_measured_drop(monkeypatch):
    drops = {"bf16": 0.001, "bf16-native": 0.05, "bf16-fused": 0.002}
    monkeypatch.setattr(fast, "precision_drop", lambda name, key: drops[key])
    timed = []
    monkeypatch.setattr(fast, "_seconds",
                        lambda run, model, precision: timed.append(run) or 2.0 - len(timed))
    model = make_model(get_spec("fsrcnn"), 2)
    run = fast.runnable(model, "bf16")
    assert len(timed) == 2 and run is timed[1]  # eager, then the fused graph alone
    assert _decisions() == {"fsrcnn": "native-fused"}


@needs_bf16_fuse
def test_a_decision_without_the_weights_quality_does_not_stand_for_weights_with_it(
        monkeypatch):
    # benchmark's speed table times random weights (no precision.json entry: eager only);
    # the shipped weights of the same arch, measured harmless in bf16, must still get their
    # copies timed, not that cached "eager" (it once cost EDSR x4 its fused bf16 path).
    monkeypatch.setattr(fast, "_seconds", lambda run, model, precision: 1.0)
    monkeypatch.setattr(fast, "precision_drop", lambda name, key: None)
    assert fast.runnable(make_model(get_spec("fsrcnn"), 2), "bf16") is not None
    assert set(_decisions().values()) == {"eager"}
    order = iter([3.0, 2.0, 2.0, 1.0])  # eager, native, native-frozen, native-fused
    monkeypatch.setattr(fast, "_seconds", lambda run, model, precision: next(order))
    monkeypatch.setattr(fast, "precision_drop", lambda name, key: 0.0)
    model = make_model(get_spec("fsrcnn"), 2)
    assert fast.runnable(model, "bf16") is not model.module
    assert sorted(json.loads(cache_file().read_text()).values()) == ["eager", "native-fused"]
