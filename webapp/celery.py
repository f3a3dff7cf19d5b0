"""The Celery app. Settings come from Django's (CELERY_* names); tasks carry job ids only."""

from __future__ import annotations

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("webapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["webapp.jobs"])


@signals.celeryd_init.connect
def _private_files(**kwargs: object) -> None:
    """`celery worker` starts here: results it writes are the service user's only. Not at
    import, because every process that imports `webapp` (tests, manage.py) imports this."""
    os.umask(0o077)
