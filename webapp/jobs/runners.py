"""Job kinds: each kind names the function that does its work inside a worker.

A runner gets the Job and a progress callback and returns the JSON-safe `result` dict;
it raises EngineError (shown to the user), Cancelled (via the callback) or anything else
(an internal error). Apps register their kinds in `AppConfig.ready()` by dotted path, so
the web process never imports the heavy runner modules.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from webapp.jobs.models import Job
    from webapp.progress import JobProgress

Runner = Callable[["Job", "JobProgress"], dict]
_RUNNERS: dict[str, str] = {}


def register(kind: str, dotted_path: str) -> None:
    _RUNNERS[kind] = dotted_path


def is_registered(kind: str) -> bool:
    return kind in _RUNNERS


def get_runner(kind: str) -> Runner:
    try:
        return import_string(_RUNNERS[kind])
    except KeyError:
        raise LookupError(f"no runner registered for job kind {kind!r}") from None


def json_float(value: float | None) -> float | None:
    """A metric as JSON allows it: NaN and infinities (identical images give inf dB) are None."""
    return float(value) if value is not None and math.isfinite(value) else None
