"""Celery tasks: translate a message (a job id) into a service call, nothing more."""

from __future__ import annotations

from celery import shared_task

from webapp.jobs import services


@shared_task(bind=True, name="webapp.jobs.tasks.job_run_task")
def job_run_task(self, job_id: str) -> None:
    services.job_execute(job_id=job_id, worker=self.request.hostname or "unknown")

