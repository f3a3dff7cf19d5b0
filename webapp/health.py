"""`GET /healthz`: is the database answering, is Redis answering, is a worker alive?"""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse


def check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True, "vendor": connection.vendor}
    except Exception as exc:  # report, never raise: this is a diagnostics page
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def check_redis() -> dict:
    if not settings.REDIS_URL:
        return {"ok": False, "error": "REDIS_URL is not set"}
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2,
                                      socket_connect_timeout=2)
        client.ping()
        return {"ok": True}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def check_workers(timeout: float = 1.0) -> dict:
    from webapp.celery import app

    if not settings.REDIS_URL:
        return {"ok": False, "workers": [], "error": "no broker configured"}
    try:
        replies = app.control.ping(timeout=timeout) or []
    except Exception as exc:
        return {"ok": False, "workers": [], "error": f"{type(exc).__name__}: {exc}"}
    names = sorted(name for reply in replies for name in reply)
    return {"ok": bool(names), "workers": names}


def healthz(request: HttpRequest) -> JsonResponse:
    report = {"database": check_database(), "redis": check_redis()}
    report["worker"] = (check_workers() if report["redis"]["ok"]
                        else {"ok": False, "workers": [], "error": "redis is down"})
    report["ok"] = all(part["ok"] for part in report.values())
    return JsonResponse(report, status=200 if report["ok"] else 503)
