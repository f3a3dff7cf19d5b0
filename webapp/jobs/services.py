"""Writes of jobs. Every status change goes through here and is broadcast to the job's group."""

from __future__ import annotations

import logging
import os
import uuid
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from sr_engine.errors import Cancelled, EngineError
from sr_engine.progress import ProgressEvent
from webapp.jobs.models import ACTIVE, Job, JobStatus
from webapp.jobs.runners import get_runner, is_registered
from webapp.jobs.selectors import job_payload
from webapp.progress import JobProgress, job_broadcast

log = logging.getLogger(__name__)


def _event(stage: str, message: str = "", metrics: dict | None = None) -> dict:
    return ProgressEvent(stage=stage, message=message, metrics=metrics or {}).to_dict()


def job_create(*, owner: AbstractBaseUser, kind: str, params: dict,
               queue: str | None = None) -> Job:
    """Save a queued job and enqueue it once the surrounding transaction commits (on
    `queue` when given, else on the task's routed queue)."""
    from webapp.jobs.tasks import job_run_task

    if not is_registered(kind):  # a programming error: fail in the request, not the worker
        raise LookupError(f"no runner registered for job kind {kind!r}")
    job = Job.objects.create(owner=owner, kind=kind, params=params,
                             progress=_event("queued", "waiting for a worker"))
    job_id = str(job.id)
    options = {"queue": queue} if queue else {}
    transaction.on_commit(lambda: job_run_task.apply_async((job_id,), **options))
    return job


def _finish(job_id: uuid.UUID | str, *, status: str, from_statuses: tuple[str, ...],
            progress: dict, error: str = "", result: dict | None = None) -> Job | None:
    """Move a job into a terminal state unless it already left `from_statuses`."""
    fields = {"status": status, "progress": progress, "error": error,
              "finished_at": timezone.now()}
    if result is not None:
        fields["result"] = result
    updated = Job.objects.filter(id=job_id, status__in=from_statuses).update(**fields)
    if not updated:
        return None
    job = Job.objects.get(id=job_id)
    job_broadcast(job.id, job_payload(job))
    return job


def job_mark_done(*, job_id: uuid.UUID | str, result: dict) -> Job | None:
    metrics = result.get("summary") or {}
    return _finish(job_id, status=JobStatus.DONE, from_statuses=(JobStatus.RUNNING,),
                   progress=_event("done", "finished", metrics), result=result)


def job_mark_failed(*, job_id: uuid.UUID | str, error: str) -> Job | None:
    return _finish(job_id, status=JobStatus.FAILED, from_statuses=ACTIVE,
                   progress=_event("failed", error), error=error)


def job_mark_cancelled(*, job_id: uuid.UUID | str) -> Job | None:
    return _finish(job_id, status=JobStatus.CANCELLED, from_statuses=ACTIVE,
                   progress=_event("failed", "cancelled"), error="Cancelled by the user.")


def job_cancel(*, job: Job) -> Job:
    """Ask a job to stop. A queued job stops now; a running one at its next progress event."""
    Job.objects.filter(id=job.id).update(cancel_requested=True)
    if job.status == JobStatus.QUEUED:
        job_mark_cancelled(job_id=job.id)
    job.refresh_from_db()
    return job


def job_start(*, job_id: uuid.UUID | str, worker: str) -> Job | None:
    """Claim a queued job for this worker; None when it was cancelled or already claimed."""
    now = timezone.now()
    claimed = Job.objects.filter(id=job_id, status=JobStatus.QUEUED,
                                 cancel_requested=False).update(
        status=JobStatus.RUNNING, worker=worker, started_at=now, heartbeat_at=now,
        progress=_event("loading", "starting"))
    if not claimed:
        return None
    job = Job.objects.get(id=job_id)
    job_broadcast(job.id, job_payload(job))
    return job


def job_execute(*, job_id: uuid.UUID | str, worker: str) -> None:
    """Run one job to a terminal state. Every failure ends up on the row, never in limbo."""
    job = job_start(job_id=job_id, worker=worker)
    if job is None:
        log.info("job %s is not queued any more; skipping", job_id)
        return
    try:
        result = get_runner(job.kind)(job, JobProgress(job.id))
    except Cancelled:
        job_mark_cancelled(job_id=job.id)
    except EngineError as exc:
        job_mark_failed(job_id=job.id, error=str(exc))
    except SoftTimeLimitExceeded:
        job_mark_failed(job_id=job.id, error="The job ran past its time limit and was stopped.")
    except Exception as exc:  # a bug or an environment problem: record it, keep the worker
        log.exception("job %s failed", job.id)
        job_mark_failed(job_id=job.id, error=f"Internal error: {type(exc).__name__}: {exc}")
    else:
        job_mark_done(job_id=job.id, result=result)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def job_reconcile(*, node: str | None = None, stale_after: timedelta | None = None) -> int:
    """Fail running jobs whose process is gone.

    `Job.worker` is "<celery node name>:<pid>". Called with `node` on the same host (the
    worker starting, or a pool process about to take a job), it fails that node's running
    jobs whose pid no longer exists: a worker killed and restarted, or a pool process killed
    by the hard time limit or the OOM killer. `stale_after` also fails jobs on any node whose
    heartbeat is older than that (a host that never came back).
    """
    running = Job.objects.filter(status=JobStatus.RUNNING)
    ids: set = set()
    if node:
        for job_id, worker in running.filter(worker__startswith=f"{node}:").values_list(
                "id", "worker"):
            pid = worker.rpartition(":")[2]
            if not pid.isdigit() or not _pid_alive(int(pid)):
                ids.add(job_id)
    if stale_after is not None:
        cutoff = timezone.now() - stale_after
        ids |= set(running.filter(heartbeat_at__lt=cutoff).values_list("id", flat=True))
    for job_id in ids:
        job_mark_failed(job_id=job_id,
                        error="The worker running this job stopped before it finished.")
    return len(ids)
