"""webapp.bench_web's arithmetic and report shape (the measurement itself is a script run
against a real studio, never a test: speed is not asserted here)."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from webapp.bench_web import SCHEMA, Sample, markdown, parser, percentile, report, synthetic_png


def test_percentile_interpolates_between_closest_ranks_like_numpy():
    assert percentile([3.0], 95) == 3.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    values = [float(v) for v in range(1, 21)]  # 1..20
    assert percentile(values, 95) == pytest.approx(19.05)
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 20.0
    with pytest.raises(ValueError):
        percentile([], 50)


def _sample(total: float, engine: float) -> Sample:
    return Sample(total=total, engine=engine, request=0.01, queue=0.01, worker=0.02,
                  notify=0.005, parts={"model": engine, "engine": engine, "progress": 0.0})


def test_report_is_json_with_overhead_percentiles_phases_and_samples():
    samples = [_sample(0.10 + i / 1000, 0.05) for i in range(10)]
    data = json.loads(json.dumps(report(samples, meta={
        "model": "bicubic", "scale": 2, "input": [64, 64], "cpu": "test CPU"})))
    assert data["schema"] == SCHEMA and data["measured_jobs"] == 10
    assert data["overhead_ms"]["p50"] == pytest.approx(54.5)
    assert set(data["overhead_ms"]) == {"p50", "p95", "mean", "max"}
    assert set(data["phases_ms"]) == {"request", "queue", "worker", "notify"}
    assert set(data["engine_parts_ms"]) == {"engine", "model", "progress"}
    assert data["samples"][0]["overhead"] == pytest.approx(0.05)
    text = markdown(data)
    assert "| submit -> done, less engine time | 54.5 |" in text
    assert "bicubic x2 on a 64x64 image" in text and "test CPU" in text


def test_cli_defaults_and_synthetic_image():
    args = parser().parse_args(["--json", "out.json", "--size", "32x24"])
    assert (args.jobs, args.warmup, args.model, args.scale, args.size) == (
        50, 2, "bicubic", 2, (32, 24))
    with Image.open(io.BytesIO(synthetic_png(32, 24))) as image:
        assert image.size == (32, 24) and image.format == "PNG"
