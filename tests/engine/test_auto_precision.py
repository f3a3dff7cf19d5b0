"""precision "auto" for inference: a measured, cached speed probe per device and a quality
gate per checkpoint (the largest PSNR drop the benchmark measured, at most 0.01 dB)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from sr_engine.errors import ConfigError
from sr_engine.inference import auto, upscale_file
from sr_engine.inference.config import UpscaleConfig
from sr_engine.precision_quality import PrecisionRow, write_precision_file

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def fresh(monkeypatch, tmp_path):
    """No pinned answer, a cache dir of this test's own, and no answers cached in memory."""
    monkeypatch.delenv("SR_ENGINE_PRECISION", raising=False)
    monkeypatch.setenv("SR_ENGINE_CACHE", str(tmp_path / "cache"))
    # Only this test's quality table, not the one shipped beside the weights.
    monkeypatch.setattr(auto, "weights_dirs", lambda: [tmp_path / "weights"])
    auto.fastest_precision.cache_clear()
    auto._quality_table.cache_clear()
    yield
    auto.fastest_precision.cache_clear()
    auto._quality_table.cache_clear()


def _probe(times: dict[str, float], calls: list[str]):
    def probe(device: torch.device, precision: str) -> float:
        calls.append(precision)
        return times[precision]
    return probe


def _quality(tmp_path, table: dict) -> None:
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / auto.QUALITY_FILE).write_text(json.dumps(table))


@pytest.mark.parametrize(("bf16_seconds", "drop", "expected"), [
    (0.2, 0.004, "bf16"),   # faster and harmless
    (0.2, 0.02, "fp32"),    # faster, but costs this model more than 0.01 dB
    (0.2, None, "fp32"),    # faster, but never measured for this model
    (0.95, 0.0, "fp32"),    # a near tie is not worth the rounding
    (12.0, 0.0, "fp32"),    # emulated bf16 (AVX2-only CPUs)
])
def test_auto_picks_the_fastest_harmless_precision(tmp_path, bf16_seconds, drop, expected):
    _quality(tmp_path, {} if drop is None else {"edsr_x4": {"bf16": drop}})
    probe = _probe({"fp32": 1.0, "bf16": bf16_seconds}, [])
    assert auto.resolve_precision("auto", CPU, "edsr_x4", probe=probe) == expected


def test_the_probe_runs_once_per_device_and_is_kept_on_disk(tmp_path):
    calls: list[str] = []
    probe = _probe({"fp32": 1.0, "bf16": 0.2}, calls)
    assert auto.fastest_precision(CPU, probe) == "bf16"
    assert auto.fastest_precision(CPU, probe) == "bf16" and calls == ["fp32", "bf16"]
    auto.fastest_precision.cache_clear()  # a new process: the file answers
    assert auto.fastest_precision(CPU, probe) == "bf16" and len(calls) == 2
    cached = json.loads((tmp_path / "cache" / "probes.json").read_text())
    assert list(cached.values()) == ["bf16"] and "torch=" in next(iter(cached))


def test_explicit_precisions_and_the_pin_are_obeyed(monkeypatch):
    probe = _probe({"fp32": 1.0, "bf16": 0.1}, calls := [])
    assert auto.resolve_precision("fp32", CPU, "edsr_x4", probe=probe) == "fp32"
    monkeypatch.setenv("SR_ENGINE_PRECISION", "bf16")
    assert auto.resolve_precision("auto", CPU, "edsr_x4", probe=probe) == "bf16"
    assert calls == []  # neither needed the probe
    monkeypatch.setenv("SR_ENGINE_PRECISION", "fast")
    with pytest.raises(ConfigError, match="SR_ENGINE_PRECISION"):
        auto.resolve_precision("auto", CPU, "edsr_x4", probe=probe)


def test_the_real_probe_measures_both_precisions_on_this_cpu():
    assert auto.probe_seconds(CPU, "fp32") > 0 and auto.probe_seconds(CPU, "bf16") > 0
    assert auto.fastest_precision(CPU) in ("fp32", "bf16")


def test_upscale_config_defaults_to_auto():
    assert UpscaleConfig().precision == "auto"
    assert UpscaleConfig.from_dict({"precision": "auto"}).precision == "auto"


def test_upscale_file_reports_the_precision_auto_chose(tmp_path, monkeypatch):
    src = tmp_path / "in.png"
    Image.fromarray(np.full((12, 16, 3), 90, dtype=np.uint8)).save(src)
    config = UpscaleConfig(model="espcn", scale=2)
    monkeypatch.setenv("SR_ENGINE_PRECISION", "bf16")
    assert upscale_file(src, tmp_path / "a.png", config).precision == "bf16"
    monkeypatch.setenv("SR_ENGINE_PRECISION", "")  # unpinned: measured, then gated
    _quality(tmp_path, {"espcn_x2": {"bf16": 0.5}})
    assert upscale_file(src, tmp_path / "b.png", config).precision == "fp32"


def test_the_benchmark_merges_each_models_worst_drop_into_precision_json(tmp_path):
    path = tmp_path / auto.QUALITY_FILE
    path.write_text(json.dumps({"edsr_x4": {"fp16": 0.001}, "vdsr_x2": {"bf16": 0.002}}))
    rows = [PrecisionRow("edsr_x4", 4, "Set5", "bf16", 31.80, 31.797),
            PrecisionRow("edsr_x4", 4, "Set14", "bf16", 28.20, 28.205)]  # a gain is no loss
    table = write_precision_file(path, rows)
    assert table == json.loads(path.read_text()) == {
        "edsr_x4": {"bf16": 0.003, "fp16": 0.001}, "vdsr_x2": {"bf16": 0.002}}
