"""Training throughput report: rows, markdown, JSON, recipe handling and a tiny end-to-end run
on temporary data (the logic, never the timings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sr_engine.cli import main
from sr_engine.errors import ConfigError
from sr_engine.train import throughput as tb
from tests.engine.test_train import SMOKE, data  # noqa: F401 - data is a fixture


def _row(**kw: object) -> tb.ThroughputRow:
    base = dict(model="edsr", arch="edsr", scale=4, batch_size=16, patch_size=32,
                precision="bf16", device="cpu", engine_steps_s=0.6, plain_steps_s=0.5,
                data_batches_s=70.0, wait=0.02, rounds=3)
    return tb.ThroughputRow(**(base | kw))


def test_derived_rates_and_json_row() -> None:
    row = _row()
    assert row.engine_samples_s == pytest.approx(9.6)
    assert row.plain_samples_s == pytest.approx(8.0)
    assert row.speedup == pytest.approx(1.2)
    d = row.to_dict()
    assert d["speedup"] == pytest.approx(1.2) and d["engine_samples_s"] == pytest.approx(9.6)
    json.dumps(d)  # plain JSON


def test_markdown_has_a_line_per_row() -> None:
    lines = tb.render_markdown([_row(), _row(model="espcn", arch="espcn", batch_size=16,
                                             patch_size=17, wait=0.25)],
                               {"cpu": "Test CPU", "threads": 2, "load": 1.5,
                                "omp_wait_policy": None})
    assert "Test CPU, 2 threads, load average 1.5 at the end, OMP_WAIT_POLICY=unset" in lines[0]
    assert tb.render_markdown([_row()])[0].startswith("Training throughput: ")
    table = [line for line in lines if line.startswith("| ")]
    assert len(table) == 3  # header + 2 rows
    assert "| edsr x4 | 16 x 32px | bf16 | 0.60 (9.6) | 0.50 (8.0) | 1.20x | 70.0 | 2% |" in lines
    assert table[2].endswith("| 25% |")


def test_recipe_names() -> None:
    assert tb.recipe_path("edsr") == tb.RECIPES / "edsr_x4_cpu.toml"
    assert all((tb.RECIPES / f).is_file() for f in tb.NAMED_RECIPES.values())
    assert tb.recipe_path("my/recipe.toml") == Path("my/recipe.toml")


def test_bench_config_trains_from_scratch_without_validation(tmp_path: Path) -> None:
    config = tb.bench_config(tb.recipe_path("edsr"), tmp_path / "run", "fp32",
                             ["data.batch_size=4"])
    assert config.model.init is None and config.data.val is None
    assert config.train.precision == "fp32" and config.data.batch_size == 4
    assert config.train.steps > 100_000  # never reaches the end of the schedule
    assert config.train.out_dir == tmp_path / "run"


def test_recipes_beyond_pixel_losses_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pixel losses only"):
        tb.bench_config(tb.RECIPES / "srgan_x4.toml", tmp_path / "run", "fp32")


def _tiny(folders: tuple[Path, Path]) -> list[str]:
    return [f'data.train=["{folders[0]}"]', "train.ema=0"]


def test_a_tiny_measurement_end_to_end(data) -> None:  # noqa: F811 - the fixture
    lines: list[str] = []
    row = tb.measure_recipe(str(SMOKE), rounds=2, round_s=0.0, precision="fp32",
                            overrides=_tiny(data), log=lines.append)
    assert (row.arch, row.scale, row.batch_size, row.patch_size) == ("espcn", 2, 4, 8)
    assert row.precision == "fp32" and row.rounds == 2
    assert row.engine_steps_s > 0 and row.plain_steps_s > 0 and row.data_batches_s > 0
    assert 0 <= row.wait <= 1
    assert sum("round" in line for line in lines) == 2


def test_cli_writes_the_json(data, tmp_path: Path, capsys) -> None:  # noqa: F811
    out, md = tmp_path / "bench.json", tmp_path / "bench.md"
    sets = [a for s in _tiny(data) for a in ("--set", s)]
    code = main(["-q", "train-bench", "--models", str(SMOKE), "--rounds", "1", "--round-s", "0",
                 "--precision", "fp32", *sets, "--json", str(out), "--out", str(md)])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["format"] == "sr_engine.train_bench/1"
    assert {"cpu", "threads", "torch", "load", "omp_wait_policy", "command", "rows"} <= set(report)
    (row,) = report["rows"]
    assert row["arch"] == "espcn" and row["speedup"] > 0
    assert "| espcn x2 |" in md.read_text()
    assert capsys.readouterr().out.splitlines() == [f"wrote {md}", f"wrote {out}"]
