"""`manage.py reconcile_jobs [--loop]`: the job reconciler (jobs.recovery.job_sweep).

`make run` runs it as one of its processes; a deployment runs one per site
(deploy/systemd/sr-studio-reconciler.service, the compose `reconciler` service). It needs
the database and the broker, not a worker: it is what notices that every worker died.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from webapp.jobs.recovery import job_sweep

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Recover jobs whose worker died and publish queued jobs with no message."

    def add_arguments(self, parser: object) -> None:
        parser.add_argument("--loop", action="store_true",
                            help="sweep every SR_SWEEP_SECONDS until stopped")

    def handle(self, *args: object, loop: bool = False, **options: object) -> None:
        while True:
            try:
                counts = job_sweep()
            except Exception:  # a DB or broker outage: report, keep sweeping
                log.exception("sweep failed")
                counts = {}
            if any(counts.values()):
                log.warning("sweep: %s", counts)
            if not loop:
                self.stdout.write(f"recovered {counts.get('recovered', 0)}, "
                                  f"published {counts.get('published', 0)}")
                return
            close_old_connections()
            time.sleep(settings.SR_SWEEP_SECONDS)
