"""Progress for the CLI: one tqdm bar per stage, and a graceful stop on Ctrl-C / SIGTERM."""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any

from tqdm import tqdm

from sr_engine.errors import Cancelled
from sr_engine.progress import ProgressCallback, ProgressEvent


class BarProgress:
    """A ProgressCallback that draws a bar on stderr; a new bar starts at each stage change
    and whenever a stage starts over (the benchmark evaluates set after set, all "validating").

    Stages without a total (loading, saving) print a one-line status instead of a bar.
    """

    def __init__(self, *, quiet: bool = False, label: str = "") -> None:
        self.quiet = quiet
        self.label = label
        self._bar: tqdm | None = None
        self._stage: str | None = None

    def __call__(self, event: ProgressEvent) -> None:
        if self.quiet:
            return
        if event.stage != self._stage or self._starts_over(event):
            self.close()
            self._stage = event.stage
            if event.total:
                desc = f"{self.label} {event.stage}".strip()
                # initial: a bar that opens mid-way (training again after a validation, or a
                # resumed run) counts its rate and ETA from here, not from step 0 in no time.
                self._bar = tqdm(total=event.total, initial=event.current, desc=desc,
                                 unit=" frames" if event.stage == "encoding" else "",
                                 file=sys.stderr, dynamic_ncols=True, leave=False)
        if self._bar is not None:
            self._bar.n = event.current
            postfix = {k: f"{v:.4g}" for k, v in event.metrics.items()}
            if postfix:
                self._bar.set_postfix(postfix, refresh=False)
            self._bar.refresh()
        elif event.message and event.stage not in ("done",):
            print(f"{self.label} {event.stage}: {event.message}".strip(), file=sys.stderr)

    def _starts_over(self, event: ProgressEvent) -> bool:
        return self._bar is not None and (event.total != self._bar.total
                                          or event.current < self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class StopOnSignal:
    """Wraps a ProgressCallback: the first Ctrl-C (SIGINT) or SIGTERM raises `Cancelled` at
    the next progress event instead of wherever Python happens to be, so a training run saves
    a state it can resume from (and its session is recorded); a second one stops at once.

    Use as a context manager around the work; the previous handlers are restored after it.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, callback: ProgressCallback) -> None:
        self.callback = callback
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopOnSignal:
        self._previous = {sig: signal.signal(sig, self._request) for sig in self.SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _request(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        for sig, handler in self._previous.items():  # the next signal acts as it used to
            signal.signal(sig, handler)
        print("sr-engine: stopping at the next progress step (Ctrl-C again to stop now)",
              file=sys.stderr)

    def __call__(self, event: ProgressEvent) -> None:
        if self.requested and event.stage != "done":  # "done": nothing left to stop
            raise Cancelled(f"stopped by signal during {event.stage}")
        self.callback(event)
