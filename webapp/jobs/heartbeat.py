"""A running job's pulse, independent of the engine's progress events: one engine step (a
large tile, a validation pass) may take minutes, but a worker that is alive touches the
job every few seconds, so a silent job means a dead worker (jobs.recovery)."""

from __future__ import annotations

import logging
import threading
import uuid

from django.db import DatabaseError, connection
from django.utils import timezone

from webapp.jobs.models import Job, JobStatus

log = logging.getLogger(__name__)


class Heartbeat:
    """`with Heartbeat(job_id, every=5): run()` touches `Job.heartbeat_at` from a thread."""

    def __init__(self, job_id: uuid.UUID | str, *, every: float) -> None:
        self.job_id = job_id
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}",
                                        daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.every):
                try:
                    Job.objects.filter(id=self.job_id, status=JobStatus.RUNNING).update(
                        heartbeat_at=timezone.now())
                except DatabaseError as exc:  # a locked or restarting DB: try next beat
                    log.warning("heartbeat of job %s not stored: %s", self.job_id, exc)
        finally:
            connection.close()  # the thread's own connection, opened by the first update
