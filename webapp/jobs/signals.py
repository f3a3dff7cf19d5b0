"""Worker start-up: a worker that was killed mid-job left it "running"; fail it now.

With late acks the broker may also redeliver that job's message; the task then finds the
job no longer queued and skips it, so a crash never runs a job twice behind the user's back.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery.signals import worker_ready
from django.conf import settings

log = logging.getLogger(__name__)


@worker_ready.connect
def reconcile_on_worker_start(sender: object = None, **kwargs: object) -> None:
    from webapp.jobs.services import job_reconcile

    hostname = getattr(sender, "hostname", None)
    count = job_reconcile(worker=hostname,
                          stale_after=timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60))
    if count:
        log.warning("marked %d job(s) left running by a dead worker as failed", count)
