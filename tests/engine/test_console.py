"""The CLI's progress bars (sr_engine.console)."""

from __future__ import annotations

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


def test_quiet_draws_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    bar = BarProgress(quiet=True)
    bar(ProgressEvent("validating", current=1, total=5))
    bar(ProgressEvent("saving", message="writing"))
    assert capsys.readouterr().err == ""
