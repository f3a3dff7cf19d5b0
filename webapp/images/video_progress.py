"""A video upscale's engine events on their way to the job's progress (webapp.progress).

The engine reports each frame as an "encoding" event (current/total frames, eta_s). This adds
what the job page and the API show beside them: `fps` in the event's metrics (frames per
second over the last few seconds, so a resumed run or a slow start does not skew it), an ETA
from that rate where the engine gives none, and every few seconds a preview frame: the first
frame of the newest finished segment, saved as a small JPEG, whose time goes into the
metrics as `preview` so a page knows to load it again. The first preview comes as soon as
the first segment is finished.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from sr_engine.progress import ProgressCallback, ProgressEvent
from sr_engine.video.parts import newest_segment
from webapp.images.frames import save_frame

RATE_WINDOW_S = 5.0
FIRST_LOOK_S = 0.5  # until the first preview: it shows as soon as a segment is finished


class FrameProgress:
    def __init__(self, progress: ProgressCallback, *, parts: Path, preview: Path,
                 every: float, rotation: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.progress, self.parts, self.preview = progress, parts, preview
        self.every, self.rotation, self.clock = every, rotation, clock
        self.points: deque[tuple[float, int]] = deque()
        self.segment: Path | None = None
        self.checked = -float("inf")
        self.preview_at: float | None = None  # wall time of the preview on disk
        self.seconds = 0.0  # spent making previews: web work the engine waits for

    def __call__(self, event: ProgressEvent) -> None:
        if event.stage == "encoding":
            event = self._annotated(event)
        self.progress(event)

    def fps(self) -> float | None:
        if len(self.points) < 2:
            return None
        (t0, n0), (t1, n1) = self.points[0], self.points[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else None

    def _annotated(self, event: ProgressEvent) -> ProgressEvent:
        now = self.clock()
        self.points.append((now, event.current))
        while len(self.points) > 2 and now - self.points[1][0] >= RATE_WINDOW_S:
            self.points.popleft()  # keep one point at least the window's age
        if now - self.checked >= (self.every if self.preview_at else FIRST_LOOK_S):
            self.checked = now
            self._refresh_preview()
        metrics = dict(event.metrics)
        fps = self.fps()
        if fps is not None:
            metrics["fps"] = fps
        if self.preview_at is not None:
            metrics["preview"] = self.preview_at
        eta = event.eta_s
        if eta is None and fps and event.total:
            eta = max(event.total - event.current, 0) / fps
        return replace(event, metrics=metrics, eta_s=eta)

    def _refresh_preview(self) -> None:
        start = time.perf_counter()
        segment = newest_segment(self.parts)
        if segment not in (None, self.segment) and save_frame(segment, self.preview,
                                                              rotation=self.rotation):
            self.segment, self.preview_at = segment, time.time()
        self.seconds += time.perf_counter() - start
