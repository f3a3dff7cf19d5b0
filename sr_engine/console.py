"""Progress bars for the CLI: turns ProgressEvents into one tqdm bar per stage."""

from __future__ import annotations

import sys

from tqdm import tqdm

from sr_engine.progress import ProgressEvent


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
                self._bar = tqdm(total=event.total, desc=desc, unit="", file=sys.stderr,
                                 dynamic_ncols=True, leave=False)
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
