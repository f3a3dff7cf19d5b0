"""Celery tasks: translate a message (a job id) into service calls, nothing more."""

from __future__ import annotations

import os
from datetime import timedelta

from celery import shared_task
from django.conf import settings

from webapp.jobs import services


def stale_after() -> timedelta:
    """A heartbeat older than the hard time limit (plus slack) means the job is dead."""
    return timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)


@shared_task(bind=True, name="webapp.jobs.tasks.job_run_task")
def job_run_task(self, job_id: str) -> None:
    node = self.request.hostname or "unknown"
    # A pool process killed by the hard time limit left its job running: clear it first.
    services.job_reconcile(node=node, stale_after=stale_after())
    services.job_execute(job_id=job_id, worker=f"{node}:{os.getpid()}")
