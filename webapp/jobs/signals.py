"""Worker start-up: a worker that was killed mid-job left it "running"; fail it now.

With late acks the broker may also redeliver that job's message; the task then finds the
job no longer queued and skips it, so a crash never runs a job twice behind the user's back.
"""

from __future__ import annotations

import logging

from celery.signals import worker_ready

log = logging.getLogger(__name__)


@worker_ready.connect
def reconcile_on_worker_start(sender: object = None, **kwargs: object) -> None:
    from webapp.jobs.services import job_reconcile
    from webapp.jobs.tasks import stale_after

    count = job_reconcile(node=getattr(sender, "hostname", None), stale_after=stale_after())
    if count:
        log.warning("marked %d job(s) left running by a dead worker as failed", count)
