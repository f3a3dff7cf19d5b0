"""The side-by-side performance table (sr_engine.perf): what it counts, how its peers run,
and the regression guard over its kept JSON. Its timings are never asserted."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from sr_engine.cli import main
from sr_engine.inference.cost import model_cost
from sr_engine.perf import methods, table
from sr_engine.perf.table import PerfRow, PerfRun
from sr_engine.registry import get_spec
from tests.engine.test_inference import make_model


def test_conv_flops_and_traffic_are_counted_per_lr_pixel():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                        nn.ConvTranspose2d(8, 2, 4, stride=2, padding=1))
    cost = model_cost(net, channels=3, size=16)
    # conv: 8 outputs x 3 inputs x 9 taps; deconv: each of 8 input channels feeds 2 x 16 taps
    assert cost.conv_flops == 2 * (8 * 3 * 9 + 8 * 2 * 16)
    # conv 3 in + 8 out, ReLU 8 + 8, deconv 8 in + 2 x 4 out (per LR pixel)
    assert cost.traffic_elems == (3 + 8) + (8 + 8) + (8 + 8)
    assert cost.peak_elems == 16


def test_the_realesrgan_loop_equals_the_plain_forward_when_its_pad_covers_the_halo():
    model = make_model(get_spec("espcn"), 2)  # halo 4 <= tile_pad 10: no seams
    assert model.spec.halo(2, model.hparams) <= methods.REALESRGAN_PAD
    lr = torch.rand(1, 1, 37, 29)
    tiled = methods.realesrgan_loop(model, lr, tile=16)
    assert torch.allclose(tiled, methods.plain(model, lr), atol=1e-6)


def _run(**ratios: tuple[float, float]) -> PerfRun:
    run = PerfRun({"cpu": "Test CPU (avx2)", "threads": "2", "torch": "2", "python": "3"},
                  {"fp32": 100.0, "bf16": 200.0}, 10.0)
    for key, (engine_s, plain_s) in ratios.items():
        run.rows += [PerfRow(key, "8x8", "engine", "bf16", engine_s, 50.0, 1.0, 300.0),
                     PerfRow(key, "8x8", "plain-nchw-fp32", "fp32", plain_s, 25.0, 1.0, 300.0)]
    return run


def test_the_guard_flags_only_ratios_much_worse_than_the_kept_ones_on_the_same_cpu(tmp_path):
    path = tmp_path / "perf.json"
    table.keep(_run(a=(1.0, 4.0), b=(1.0, 4.0)), path)
    assert table.regressions(_run(a=(1.4, 4.0), b=(2.0, 4.0)), table.load_kept(path)) == [
        "b@8x8: engine/plain 0.500, kept 0.250 (allowed up to 0.375)"]
    other = _run(a=(9.0, 1.0))
    other.machine["cpu"] = "Other CPU"
    assert table.regressions(other, table.load_kept(path)) == []  # nothing kept for it
    table.keep(other, path)
    assert set(json.loads(path.read_text())) == {"Test CPU (avx2)", "Other CPU"}


def test_the_markdown_shows_speedups_roofline_shares_skips_and_tiling_overhead():
    run = _run(edsr_x4=(1.0, 4.0))
    run.rows += [PerfRow("edsr_x4", "8x8", "engine-whole", "bf16", 0.8),
                 PerfRow("edsr_x4", "9x9", "plain-nchw-fp32", skipped="needs about 9 GiB")]
    text = "\n".join(table.perf_markdown(run))
    assert "| edsr_x4 | 8x8 | engine | bf16 | 1.000 | 4.00x | 50 | 25% |" in text
    assert "| edsr_x4 | 9x9 | plain-nchw-fp32 | - | skipped: needs about 9 GiB |" in text
    assert "edsr_x4 8x8: +25%" in text
    assert "conv roofline (64->64 3x3, channels_last) fp32 100, bf16 200 GFLOP/s" in text


def test_bad_sizes_are_refused():
    with pytest.raises(Exception, match="WIDTHxHEIGHT"):
        table.check_sizes(["480by320"])


def test_a_cell_measures_in_its_own_process():
    result = table._child("espcn_x4", 4, "24x16", "engine")
    assert result["precision"] in ("fp32", "bf16") and len(result["seconds"]) == 1
    assert result["peak_rss_mib"] > 50  # the child's own peak, not this process's


def test_benchmark_perf_interleaves_methods_skips_over_budget_and_keeps_the_run(
        tmp_path, monkeypatch):
    calls = []

    def child(model, scale, size, method):
        calls.append((size, method))
        seconds = {"engine": 1.0, "engine-whole": 0.9}.get(method, 4.0)
        return {"seconds": [seconds * (4 if size == "48x32" else 1)], "peak_rss_mib": 400.0,
                "precision": "bf16" if method.startswith("engine") else "fp32"}

    monkeypatch.setattr(table, "_child", child)
    monkeypatch.setattr(table, "conv_roofline", lambda precision: 100.0)
    monkeypatch.setattr(table, "copy_bandwidth", lambda: 10.0)
    out, kept = tmp_path / "RESULTS.md", tmp_path / "perf.json"
    assert main(["-q", "benchmark", "--no-quality", "--no-speed", "--perf",
                 "--perf-models", "espcn_x4", "--perf-sizes", "48x32", "24x16",
                 "--perf-rounds", "2", "--perf-budget", "10", "--perf-json", str(kept),
                 "--out", str(out)]) == 0
    methods_in_order = list(methods.METHODS)
    assert calls == [("24x16", m) for m in methods_in_order] * 2 + \
        [("48x32", "engine"), ("48x32", "engine-whole")] * 2  # peers: 16 s estimated > 10 s
    text = out.read_text()
    assert "| espcn_x4 | 24x16 | engine | bf16 | 1.000 | 4.00x |" in text
    assert "| espcn_x4 | 48x32 | plain-nchw-fp32 | - | skipped: estimated 16 s" in text
    (run,) = json.loads(kept.read_text()).values()
    assert run["ratios"] == {"espcn_x4@24x16": 0.25}
