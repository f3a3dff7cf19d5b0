"""Worker start-up: a worker that was killed mid-job left it "running"; recover it now.

With late acks the broker may also redeliver that job's message; the task then finds the
job claimed or finished and skips it, so a crash never runs a job twice at once.
"""

from __future__ import annotations

import logging

from celery.signals import worker_ready

from webapp.jobs.recovery import job_reconcile

log = logging.getLogger(__name__)


@worker_ready.connect
def reconcile_on_worker_start(sender: object = None, **kwargs: object) -> None:
    count = job_reconcile(node=getattr(sender, "hostname", "unknown"))
    if count:
        log.warning("recovered %d job(s) left running by a dead worker", count)
