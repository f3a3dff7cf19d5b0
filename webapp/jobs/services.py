"""Writes of jobs. Every status change goes through here and is broadcast to the job's group."""

from __future__ import annotations

import logging
import uuid

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from sr_engine.errors import Cancelled, ConfigError, EngineError
from sr_engine.progress import ProgressEvent
from webapp.jobs.broker import DEFAULT_QUEUE, publish, queue_check
from webapp.jobs.heartbeat import Heartbeat
from webapp.jobs.models import ACTIVE, Job, JobStatus
from webapp.jobs.runners import get_runner, is_registered
from webapp.jobs.selectors import job_payload
from webapp.limits import user_jobs_check, user_running_jobs
from webapp.progress import JobProgress, job_broadcast

log = logging.getLogger(__name__)


def stage_event(stage: str, message: str = "", metrics: dict | None = None) -> dict:
    return ProgressEvent(stage=stage, message=message, metrics=metrics or {}).to_dict()


def job_create(*, owner: AbstractBaseUser, kind: str, params: dict,
               queue: str | None = None, checked: bool = False) -> Job:
    """Save a queued job and publish it once the surrounding transaction commits (on
    `queue` when given, else on the task's routed queue).

    The row is the outbox: a job whose message the broker did not take keeps
    `enqueued_at` empty and the sweeper (jobs.recovery) publishes it later, so a committed
    job is never lost. A broker that is down before anything is saved is QueueUnavailable
    (503), and a user over their limits is LimitExceeded (429). `checked`: the caller
    already made both checks for this job in this request (images.services.submission_check
    counts a whole submission's jobs), so they are not made again per job."""
    if not is_registered(kind):  # a programming error: fail in the request, not the worker
        raise LookupError(f"no runner registered for job kind {kind!r}")
    if not checked:
        user_jobs_check(owner)
        queue_check()
    job = Job.objects.create(owner=owner, kind=kind, params=params, queue=queue or "",
                             progress=stage_event("queued", "waiting for a worker"))
    job_id = str(job.id)
    transaction.on_commit(lambda: job_enqueue(job_id=job_id))
    return job


def job_enqueue(*, job_id: uuid.UUID | str) -> bool:
    """Publish a queued job's message and note when the broker took it."""
    job = Job.objects.filter(id=job_id, status=JobStatus.QUEUED).first()
    if job is None:
        return False
    if not publish(str(job.id), job.queue or DEFAULT_QUEUE):
        return False
    Job.objects.filter(id=job_id, status=JobStatus.QUEUED).update(enqueued_at=timezone.now())
    return True


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
                   progress=stage_event("done", "finished", metrics), result=result)


def job_mark_failed(*, job_id: uuid.UUID | str, error: str) -> Job | None:
    return _finish(job_id, status=JobStatus.FAILED, from_statuses=ACTIVE,
                   progress=stage_event("failed", error), error=error)


def job_mark_cancelled(*, job_id: uuid.UUID | str) -> Job | None:
    return _finish(job_id, status=JobStatus.CANCELLED, from_statuses=ACTIVE,
                   progress=stage_event("failed", "cancelled"), error="Cancelled by the user.")


def job_cancel(*, job: Job) -> Job:
    """Ask a job to stop. A queued job stops now; a running one at its next progress event."""
    Job.objects.filter(id=job.id).update(cancel_requested=True)
    if job.status == JobStatus.QUEUED:
        job_mark_cancelled(job_id=job.id)
    job.refresh_from_db()
    return job


def _defer(job: Job, running: int) -> None:
    """Leave a job queued, with no message: the sweeper publishes it again after
    SR_QUEUE_GRACE_SECONDS (counted from now), by when one of the owner's jobs may be done."""
    waiting = stage_event("queued", f"waiting: {running} of your jobs are running (the limit "
                                    f"is {settings.SR_USER_MAX_RUNNING_JOBS})")
    if Job.objects.filter(id=job.id, status=JobStatus.QUEUED).update(
            enqueued_at=timezone.now(), progress=waiting):
        job_broadcast(job.id, job_payload(Job.objects.get(id=job.id)))


def job_start(*, job_id: uuid.UUID | str, worker: str) -> Job | None:
    """Claim a queued job for this worker; None when it was cancelled or already claimed,
    or (left queued) when its owner already has SR_USER_MAX_RUNNING_JOBS running."""
    job = Job.objects.filter(id=job_id, status=JobStatus.QUEUED, cancel_requested=False).first()
    if job is None:
        return None
    running = user_running_jobs(job.owner_id)
    if settings.SR_USER_MAX_RUNNING_JOBS and running >= settings.SR_USER_MAX_RUNNING_JOBS:
        _defer(job, running)
        return None
    now = timezone.now()
    claimed = Job.objects.filter(id=job_id, status=JobStatus.QUEUED,
                                 cancel_requested=False).update(
        status=JobStatus.RUNNING, worker=worker, started_at=now, heartbeat_at=now,
        attempts=F("attempts") + 1, progress=stage_event("loading", "starting"))
    if not claimed:
        return None
    job = Job.objects.get(id=job_id)
    job_broadcast(job.id, job_payload(job))
    return job


def job_execute(*, job_id: uuid.UUID | str, worker: str) -> None:
    """Run one job to a terminal state. Every failure ends up on the row, never in limbo."""
    job = job_start(job_id=job_id, worker=worker)
    if job is None:
        log.info("job %s is not queued any more, or must wait; skipping", job_id)
        return
    try:
        # The progress closes first: no deferred event is sent after the final state.
        with Heartbeat(job.id, every=settings.SR_JOB_HEARTBEAT_SECONDS), \
                JobProgress(job.id, just_stored=True) as progress:
            result = get_runner(job.kind)(job, progress)
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


RETRYABLE = (JobStatus.FAILED, JobStatus.CANCELLED)


def job_retry(*, job: Job) -> Job:
    """Run a failed or cancelled job again from the start, as a fresh queued job with the
    same id, params and output folder. ConfigError when it is not failed or cancelled."""
    if job.status not in RETRYABLE:
        raise ConfigError(f"the job is {job.status}; only a failed or cancelled job can be "
                          "retried")
    if job.kind == "train":  # its run keeps state and history that a fresh start would lose
        raise ConfigError("a training run continues from its saved state: resume the run")
    user_jobs_check(job.owner)
    queue_check()
    with transaction.atomic():
        reset = Job.objects.filter(id=job.id, status__in=RETRYABLE).update(
            status=JobStatus.QUEUED, attempts=0, enqueued_at=None, cancel_requested=False,
            error="", result={}, worker="", started_at=None, finished_at=None,
            progress=stage_event("queued", "retrying: waiting for a worker"))
        if reset:
            job_id = str(job.id)
            transaction.on_commit(lambda: job_enqueue(job_id=job_id))
    job.refresh_from_db()
    job_broadcast(job.id, job_payload(job))
    return job
