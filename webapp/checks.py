"""System checks for deployment mistakes (`manage.py check --deploy` runs them too)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning, register

from webapp.env import LOCAL_HOSTS


@register(Tags.compatibility, deploy=True)
def check_services(app_configs: object = None, **kwargs: object) -> list[Warning]:
    problems = []
    if not settings.REDIS_URL:
        problems.append(Warning(
            "REDIS_URL is not set: jobs cannot be queued and progress cannot reach pages.",
            hint="Set REDIS_URL (make run starts a private Redis and sets it for you).",
            id="sr_studio.W001"))
    if (settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
            and set(settings.ALLOWED_HOSTS) - LOCAL_HOSTS):
        problems.append(Warning(
            "SQLite serves a public host name: fine for one machine, but workers on other "
            "hosts cannot share it.",
            hint="Set DATABASE_URL to a PostgreSQL database for multi-host deployments.",
            id="sr_studio.W002"))
    if not settings.SR_SERVE_STATIC and not settings.STATIC_ROOT:
        problems.append(Warning("SR_SERVE_STATIC is off but STATIC_ROOT is empty.",
                                id="sr_studio.W003"))
    if settings.SR_MAX_VIDEO_BYTES > settings.SR_MAX_REQUEST_BYTES:
        problems.append(Warning(
            "SR_MAX_VIDEO_BYTES is over SR_MAX_REQUEST_BYTES: larger videos are refused with "
            "413 before the video limit is reached.",
            hint="Raise SR_MAX_REQUEST_BYTES (and nginx's client_max_body_size) with it.",
            id="sr_studio.W004"))
    return problems
