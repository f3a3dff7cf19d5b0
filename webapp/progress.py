"""Engine progress -> web: throttle, store the snapshot on the Job row, send to `job.<uuid>`.

The engine calls `JobProgress` with ProgressEvents from inside a worker. Stage changes are
always forwarded; within a stage at most one event per `interval` seconds. Terminal events
from the engine (`done`/`failed`) are not forwarded: a job is done when `jobs.services`
says so (after outputs and metrics are stored), and that service broadcasts the final state.
The same call checks the job's cancel flag and raises `Cancelled` so the engine stops.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import replace

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from sr_engine.errors import Cancelled
from sr_engine.progress import TERMINAL_STAGES, ProgressEvent

log = logging.getLogger(__name__)


def job_group(job_id: uuid.UUID | str) -> str:
    return f"job.{job_id}"


def job_broadcast(job_id: uuid.UUID | str, payload: dict) -> None:
    """Send a job payload to every socket watching the job; a Redis hiccup never fails work."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(job_group(job_id), {"type": "job.update", "job": payload})
    except Exception:  # the DB snapshot is the truth; sockets recover from it on reconnect
        log.warning("could not broadcast progress of job %s", job_id, exc_info=True)


class JobProgress:
    """A ProgressCallback bound to one job. `labelled(prefix)` gives a view for a sub-step."""

    def __init__(self, job_id: uuid.UUID | str, *, interval: float = 0.25,
                 prefix: str = "", _state: dict | None = None) -> None:
        self.job_id = job_id
        self.interval = interval
        self.prefix = prefix
        # Shared between labelled views so throttling and cancel checks span sub-steps.
        self._state = _state if _state is not None else {"sent": 0.0, "stage": None,
                                                         "checked": 0.0}

    def labelled(self, prefix: str) -> JobProgress:
        return JobProgress(self.job_id, interval=self.interval, prefix=prefix,
                           _state=self._state)

    def __call__(self, event: ProgressEvent) -> None:
        now = time.monotonic()
        if now - self._state["checked"] >= self.interval:
            self._state["checked"] = now
            self._raise_if_cancelled()
        if event.stage in TERMINAL_STAGES:
            return
        if self.prefix:
            event = replace(event, message=f"{self.prefix}: {event.message}".rstrip(": "))
        changed = event.stage != self._state["stage"]
        last = event.total and event.current >= event.total
        if not (changed or last or now - self._state["sent"] >= self.interval):
            return
        self._state.update(sent=now, stage=event.stage)
        self.store(event)

    def store(self, event: ProgressEvent) -> None:
        from webapp.jobs.models import Job, JobStatus
        from webapp.jobs.selectors import job_payload

        snapshot = event.to_dict()
        updated = Job.objects.filter(id=self.job_id, status=JobStatus.RUNNING).update(
            progress=snapshot, heartbeat_at=timezone.now())
        if updated:
            job_broadcast(self.job_id, job_payload(Job.objects.get(id=self.job_id)))

    def _raise_if_cancelled(self) -> None:
        from webapp.jobs.models import Job

        if Job.objects.filter(id=self.job_id, cancel_requested=True).exists():
            raise Cancelled("cancelled by the user")
