"""Celery tasks: translate a message (a job id) into service calls, nothing more."""

from __future__ import annotations

import os

from celery import shared_task

from webapp.jobs import recovery, services


@shared_task(bind=True, name="webapp.jobs.tasks.job_run_task")
def job_run_task(self, job_id: str) -> None:
    node = self.request.hostname or "unknown"
    # A pool process killed mid-job (its message is redelivered now) left its job running:
    # put it back in the queue (or fail it after its last try) before claiming.
    recovery.job_reconcile(node=node)
    services.job_execute(job_id=job_id, worker=f"{node}:{os.getpid()}")
