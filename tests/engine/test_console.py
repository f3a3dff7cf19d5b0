"""The CLI's progress bars (sr_engine.console)."""

from __future__ import annotations

import re

import pytest

from sr_engine.console import BarProgress
from sr_engine.progress import ProgressEvent


def test_a_stage_that_starts_over_gets_a_fresh_bar(capsys: pytest.CaptureFixture[str]) -> None:
    bar = BarProgress()
    for i in range(1, 6):  # Set5, then Set14: both "validating", as in `sr-engine benchmark`
        bar(ProgressEvent("validating", current=i, total=5))
    bar(ProgressEvent("validating", current=1, total=14))
    bar.close()
    err = capsys.readouterr().err
    assert "5/5" in err and "1/14" in err


def test_a_bar_opened_mid_way_times_only_the_steps_it_sees(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(range(1000))  # tqdm's clock ticks one second per reading
    monkeypatch.setattr("tqdm.std.time", lambda: float(next(clock)))
    bar = BarProgress()
    bar(ProgressEvent("training", current=8000, total=10000))  # after a validation, say
    bar(ProgressEvent("training", current=8010, total=10000))
    assert bar._bar is not None
    rate = float(re.search(r"([\d.]+)/s", str(bar._bar)).group(1))
    assert rate < 100  # 10 steps in a few seconds, not 8010 steps in no time
    bar.close()


def test_quiet_draws_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    bar = BarProgress(quiet=True)
    bar(ProgressEvent("validating", current=1, total=5))
    bar(ProgressEvent("saving", message="writing"))
    assert capsys.readouterr().err == ""
