"""The progress-event schema: JSON round trip, validation, ETA and cancellation."""

import json
import math

import pytest

from sr_engine.errors import Cancelled, ConfigError
from sr_engine.progress import ProgressEvent, Reporter, emit


def test_round_trip_through_json():
    ev = ProgressEvent(stage="training", current=3, total=10, message="m",
                       metrics={"loss": 0.5, "psnr": math.nan}, eta_s=1.5)
    data = json.loads(json.dumps(ev.to_dict()))
    assert data["metrics"]["psnr"] is None  # NaN is not JSON
    back = ProgressEvent.from_dict({**data, "metrics": {"loss": 0.5}})
    assert (back.stage, back.current, back.total, back.metrics, back.eta_s) == (
        "training", 3, 10, {"loss": 0.5}, 1.5)
    assert data["v"] == 1


def test_unknown_stage_and_keys_rejected():
    with pytest.raises(ConfigError):
        ProgressEvent(stage="exploding")
    with pytest.raises(ConfigError, match="unknown progress event keys"):
        ProgressEvent.from_dict({"stage": "done", "extra": 1})


def test_reporter_counts_and_estimates():
    seen = []
    rep = Reporter(seen.append, "tiling", total=4)
    for _ in range(4):
        rep.advance(message="tile")
    assert [e.current for e in seen] == [1, 2, 3, 4]
    assert seen[0].eta_s is not None and seen[-1].eta_s == 0


def test_cancel_propagates_from_callback():
    def cb(event):
        raise Cancelled("stop")

    with pytest.raises(Cancelled):
        emit(cb, "loading")
