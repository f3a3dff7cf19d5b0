"""train.precision = "auto": the faster of bf16 and fp32 on this device, resolved before the
run is built so its checkpoints record what ran."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sr_engine.checkpoint import read_meta
from sr_engine.progress import ProgressEvent
from sr_engine.train import loop, train
from sr_engine.train.precision import auto_precision, probe_seconds
from tests.engine.test_train import _config, data  # noqa: F401 - data is a fixture

CPU = torch.device("cpu")


def _probe(fp32: float, bf16: float):
    return {"fp32": fp32, "bf16": bf16}.__getitem__


@pytest.mark.parametrize(("fp32", "bf16", "choice"), [
    (4.0, 1.0, "bf16"),  # an AMX CPU
    (1.0, 1.7, "fp32"),  # a Xeon with avx512_bf16 and no AMX, as measured
    (1.0, 0.95, "fp32"),  # a near tie is not worth bf16's rounding
])
def test_auto_picks_the_faster(fp32: float, bf16: float, choice: str) -> None:
    got, why = auto_precision(CPU, probe=_probe(fp32, bf16))
    assert got == choice and why.startswith(f"precision auto: {choice}")


def test_probe_times_a_real_step() -> None:
    assert 0 < probe_seconds("fp32", repeats=1) < 10


@pytest.mark.parametrize("choice", ["bf16", "fp32"])
def test_train_records_the_resolved_precision(data, tmp_path: Path, monkeypatch,  # noqa: F811
                                              choice: str) -> None:
    fast = (1.0, 0.5) if choice == "bf16" else (1.0, 2.0)
    monkeypatch.setattr(loop, "auto_precision",
                        lambda device: auto_precision(device, probe=_probe(*fast)))
    events: list[ProgressEvent] = []
    result = train(_config(data, tmp_path / "run", "train.precision=auto", "train.steps=2",
                           "optim.warmup_steps=0"),
                   progress=events.append)
    assert any(e.message.startswith(f"precision auto: {choice}") for e in events)
    assert read_meta(result.best_checkpoint).recipe["train"]["precision"] == choice
