"""Jobs whose worker or message was lost are put back on track, never left in limbo.

- `job_recover`: a running job whose worker died goes back to the queue once (its output
  folder is per job and rewritten, so a rerun is safe), and fails with a clear message when
  it already had `SR_JOB_MAX_ATTEMPTS` tries.
- `job_reconcile(node=...)`: on a worker host, running jobs of that node whose process is
  gone (a pool process killed, a worker restarted). Runs at worker start and before a task.
- `job_sweep()`: what `manage.py reconcile_jobs` runs every few seconds, with no worker
  needed: running jobs whose heartbeat stopped, and queued jobs with no message waiting in
  the broker (never published because the broker was down, or lost with a broker that
  restarted) are published again. A duplicate message is harmless: only one claim wins.
"""

from __future__ import annotations

import logging
import os
import uuid
from datetime import timedelta

import redis
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from webapp.jobs.broker import DEFAULT_QUEUE, waiting_job_ids
from webapp.jobs.models import Job, JobStatus
from webapp.jobs.selectors import job_payload
from webapp.jobs.services import job_enqueue, job_mark_failed, stage_event
from webapp.progress import job_broadcast

log = logging.getLogger(__name__)
LOST = "the worker running this job stopped before it finished"


def job_recover(*, job_id: uuid.UUID | str, reason: str = LOST) -> None:
    """Queue a running job again after its worker died, or fail it after its last try."""
    job = Job.objects.filter(id=job_id, status=JobStatus.RUNNING).first()
    if job is None:
        return
    tries = settings.SR_JOB_MAX_ATTEMPTS
    if job.attempts >= tries:
        job_mark_failed(job_id=job.id, error=f"{reason.capitalize()} (try {job.attempts} of "
                                             f"{tries}); retry it once the cause is fixed.")
        return
    requeued = Job.objects.filter(id=job.id, status=JobStatus.RUNNING,
                                  worker=job.worker).update(
        status=JobStatus.QUEUED, worker="", started_at=None, enqueued_at=None,
        progress=stage_event("queued", f"{reason}; queued again (try {job.attempts + 1} of "
                                 f"{tries})"))
    if requeued:
        log.warning("job %s: %s; queued again", job.id, reason)
        job_broadcast(job.id, job_payload(Job.objects.get(id=job.id)))
        job_enqueue(job_id=job.id)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def job_reconcile(*, node: str) -> int:
    """Recover this node's running jobs whose process is gone. `Job.worker` is
    "<celery node name>:<pid>", so only the node's own host can ask about the pid."""
    lost = []
    running = Job.objects.filter(status=JobStatus.RUNNING, worker__startswith=f"{node}:")
    for job_id, worker in running.values_list("id", "worker"):
        pid = worker.rpartition(":")[2]
        if not pid.isdigit() or not _pid_alive(int(pid)):
            lost.append(job_id)
    for job_id in lost:
        job_recover(job_id=job_id)
    return len(lost)


def job_sweep() -> dict[str, int]:
    """One pass of the reconciler; returns how many jobs it recovered and republished."""
    stale = timezone.now() - timedelta(seconds=settings.SR_JOB_STALE_SECONDS)
    silent = list(Job.objects.filter(status=JobStatus.RUNNING)
                  .filter(Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True))
                  .values_list("id", flat=True))
    for job_id in silent:
        job_recover(job_id=job_id)
    return {"recovered": len(silent), "published": _republish()}


def _republish() -> int:
    grace = timezone.now() - timedelta(seconds=settings.SR_QUEUE_GRACE_SECONDS)
    queued = Job.objects.filter(status=JobStatus.QUEUED).filter(
        Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=grace))
    candidates = list(queued.values_list("id", "queue"))
    if not candidates:
        return 0
    try:
        waiting = waiting_job_ids({queue or DEFAULT_QUEUE for _, queue in candidates},
                                  held_for=settings.SR_QUEUE_GRACE_SECONDS)
    except (redis.RedisError, OSError) as exc:  # broker down: the next pass tries again
        log.warning("sweep: broker unreachable: %s", exc)
        return 0
    published = 0
    for job_id, _ in candidates:
        if str(job_id) not in waiting and job_enqueue(job_id=job_id):
            published += 1
    return published
