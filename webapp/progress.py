"""Engine progress -> web: throttle, store the snapshot on the Job row, send to `job.<uuid>`.

The engine calls `JobProgress` with ProgressEvents from inside a worker. At most one event
per `interval` seconds is stored and sent, whatever its stage: an event that comes sooner
waits, replaced by any later one, and a small thread stores the latest when the interval is
up, so a long silent step (saving a large PNG) still shows its own stage within `interval`.
A job of a few small steps thus costs one or two writes, not one per stage (each is a
database write and a channel-layer send the engine would wait for). `close()` (the job's
end) drops what waits: the final state that `jobs.services` stores supersedes it, and
nothing is sent after it. Terminal events from the engine (`done`/`failed`) are not
forwarded: a job is done when `jobs.services` says so (after outputs and metrics are
stored), and that service broadcasts the final state. The same call checks the job's
cancel flag and raises `Cancelled` so the engine stops.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import replace

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import DatabaseError, connection
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


class _Shared:
    """What the labelled views of one job's progress share: the throttle, the cancel check's
    clock, the time spent, and the thread that stores a deferred event."""

    def __init__(self, sent: float) -> None:
        self.lock = threading.Condition()
        self.sent = sent  # when an event was last stored (monotonic)
        self.checked = 0.0  # when the cancel flag was last read
        self.seconds = 0.0  # spent in callbacks (reads, writes, sends)
        self.pending: tuple[JobProgress, ProgressEvent] | None = None
        self.thread: threading.Thread | None = None
        self.closed = False


class JobProgress:
    """A ProgressCallback bound to one job. `labelled(prefix)` gives a view for a sub-step.
    Use it as a context manager (or call `close()`) so a deferred event is never sent after
    the job's final state. `just_stored`: the job's snapshot was stored a moment ago
    (jobs.services.job_start), so even the first event waits out the interval."""

    def __init__(self, job_id: uuid.UUID | str, *, interval: float = 0.25,
                 prefix: str = "", just_stored: bool = False,
                 _shared: _Shared | None = None) -> None:
        self.job_id = job_id
        self.interval = interval
        self.prefix = prefix
        # Shared between labelled views so throttling and cancel checks span sub-steps.
        self._shared = _shared or _Shared(time.monotonic() if just_stored else 0.0)

    @property
    def seconds(self) -> float:
        """Time spent so far checking the cancel flag and storing/broadcasting events: web
        work the engine waits for, which a job's engine time leaves out."""
        return self._shared.seconds

    def labelled(self, prefix: str) -> JobProgress:
        return JobProgress(self.job_id, interval=self.interval, prefix=prefix,
                           _shared=self._shared)

    def __enter__(self) -> JobProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop a deferred event and stop its thread; later events are ignored."""
        shared = self._shared
        with shared.lock:  # waits for a store in progress: nothing is sent after this
            shared.closed, shared.pending = True, None
            shared.lock.notify_all()
        if shared.thread is not None:
            shared.thread.join()

    def __call__(self, event: ProgressEvent) -> None:
        start = time.perf_counter()
        try:
            self._handle(event)
        finally:
            self._shared.seconds += time.perf_counter() - start

    def _handle(self, event: ProgressEvent) -> None:
        shared = self._shared
        now = time.monotonic()
        if now - shared.checked >= self.interval:
            shared.checked = now
            self._raise_if_cancelled()
        if event.stage in TERMINAL_STAGES:
            return
        if self.prefix:
            event = replace(event, message=f"{self.prefix}: {event.message}".rstrip(": "))
        with shared.lock:
            if shared.closed:
                return
            if now - shared.sent >= self.interval:
                shared.pending, shared.sent = None, now
                self.store(event)
                return
            shared.pending = (self, event)
            if shared.thread is None:
                shared.thread = threading.Thread(target=self._flush_loop, daemon=True,
                                                 name=f"progress-{self.job_id}")
                shared.thread.start()
            shared.lock.notify_all()

    def store_now(self, event: ProgressEvent) -> None:
        """Store and send `event` at once (it restarts the interval and replaces a deferred
        one); for events every client must get, such as a training run's metric points."""
        shared = self._shared
        with shared.lock:
            if shared.closed:
                return
            shared.pending, shared.sent = None, time.monotonic()
            self.store(event)

    def _flush_loop(self) -> None:
        """The deferred-event thread: store the latest waiting event once its interval is up."""
        shared = self._shared
        try:
            with shared.lock:
                while not shared.closed:
                    if shared.pending is None:
                        shared.lock.wait()
                        continue
                    delay = shared.sent + self.interval - time.monotonic()
                    if delay > 0:
                        shared.lock.wait(delay)
                        continue
                    (view, event), shared.pending = shared.pending, None
                    shared.sent = time.monotonic()
                    try:  # under the lock, so close() waits for it
                        view.store(event)
                    except DatabaseError as exc:  # a locked or restarting DB: the next event
                        log.warning("progress of job %s not stored: %s", self.job_id, exc)
        finally:
            connection.close()  # the thread's own connection, opened by its first store

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
