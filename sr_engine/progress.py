"""The one progress-event schema, shared by inference, training, evaluation, CLI and web.

A callback receives `ProgressEvent`s. To cancel, the callback raises `Cancelled`
(`sr_engine.errors.Cancelled`); the engine stops at the next event boundary, removes
half-written output and lets the exception propagate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from sr_engine.errors import Cancelled, ConfigError

SCHEMA_VERSION = 1

_EVENT_KEYS = frozenset({"v", "stage", "current", "total", "message", "metrics", "eta_s", "ts"})

Stage = Literal[
    "queued", "loading", "tiling", "training", "validating", "encoding", "saving", "done", "failed"
]
STAGES: tuple[str, ...] = get_args(Stage)
TERMINAL_STAGES = frozenset({"done", "failed"})


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report. JSON-safe through `to_dict()`.

    `current`/`total` count the units of the stage (tiles, steps, images); `total` is 0
    when unknown. `metrics` maps a name (loss, psnr, ssim, lr, it/s, ...) to a float.
    """

    stage: Stage
    current: int = 0
    total: int = 0
    message: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)
    eta_s: float | None = None
    ts: float = field(default_factory=time.time)
    v: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ConfigError(f"unknown progress stage {self.stage!r}; expected one of {STAGES}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": self.v,
            "stage": self.stage,
            "current": self.current,
            "total": self.total,
            "message": self.message,
            "metrics": {k: _json_float(v) for k, v in self.metrics.items()},
            "eta_s": _json_float(self.eta_s),
            "ts": self.ts,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProgressEvent:
        unknown = set(data) - _EVENT_KEYS
        if unknown:
            raise ConfigError(f"unknown progress event keys: {sorted(unknown)}")
        return cls(
            stage=data["stage"],
            current=int(data.get("current", 0)),
            total=int(data.get("total", 0)),
            message=str(data.get("message", "")),
            metrics={str(k): float(v) for k, v in (data.get("metrics") or {}).items()},
            eta_s=None if data.get("eta_s") is None else float(data["eta_s"]),
            ts=float(data.get("ts", time.time())),
            v=int(data.get("v", SCHEMA_VERSION)),
        )


def _json_float(x: float | None) -> float | None:
    """NaN and inf are not JSON; a diverged loss is reported as None instead."""
    if x is None or not math.isfinite(x):
        return None
    return float(x)


ProgressCallback = Callable[[ProgressEvent], None]


def null_progress(event: ProgressEvent) -> None:
    """The default callback: ignores events."""


class Reporter:
    """Emits events for one stage of counted work and estimates the time left.

    >>> rep = Reporter(callback, "tiling", total=12)
    >>> rep.advance(message="tile 1/12")   # current=1, eta from the mean rate so far
    """

    def __init__(self, callback: ProgressCallback | None, stage: Stage, total: int = 0,
                 start: int = 0) -> None:
        self.callback = callback or null_progress
        self.stage: Stage = stage
        self.total = total
        self.current = start
        self._start_count = start
        self._t0 = self.sent = time.monotonic()  # `sent`: when this reporter last emitted

    def rate(self) -> float:
        """Units per second since this reporter started (0 before the first)."""
        return (self.current - self._start_count) / max(time.monotonic() - self._t0, 1e-9)

    def eta(self) -> float | None:
        rate = self.rate()
        if not self.total or rate <= 0:
            return None
        return max(self.total - self.current, 0) / rate

    def emit(self, message: str = "", metrics: Mapping[str, float] | None = None) -> None:
        self.sent = time.monotonic()
        self.callback(ProgressEvent(stage=self.stage, current=self.current, total=self.total,
                                    message=message, metrics=dict(metrics or {}),
                                    eta_s=self.eta()))

    def advance(self, n: int = 1, message: str = "",
                metrics: Mapping[str, float] | None = None) -> None:
        self.current += n
        self.emit(message, metrics)


def emit(callback: ProgressCallback | None, stage: Stage, message: str = "", *,
         current: int = 0, total: int = 0, metrics: Mapping[str, float] | None = None) -> None:
    """Send a single event (a stage change, a final `done`)."""
    (callback or null_progress)(ProgressEvent(stage=stage, current=current, total=total,
                                              message=message, metrics=dict(metrics or {})))


__all__ = ["Cancelled", "ProgressCallback", "ProgressEvent", "Reporter", "STAGES", "Stage",
           "TERMINAL_STAGES", "emit", "null_progress"]
