"""The command lines of the studio's processes, shared by `make run` and the tests, so both
start the same servers the same way (deploy/ spells the same commands for systemd/compose)."""

from __future__ import annotations

import sys


def web_command(host: str, port: int) -> list[str]:
    # uvicorn reads a request body only as the app asks for it, so webapp.guard can refuse
    # an oversize or anonymous upload before it is read. Django has no lifespan support.
    return [sys.executable, "-m", "uvicorn", "webapp.asgi:application", "--host", host,
            "--port", str(port), "--lifespan", "off", "--timeout-graceful-shutdown", "5"]


def worker_command(*, name: str | None = None) -> list[str]:
    command = [sys.executable, "-m", "celery", "-A", "webapp", "worker", "-Q", "gpu,default",
               "--concurrency", "1", "--loglevel", "INFO"]
    return command + (["-n", name] if name else [])


def reconciler_command() -> list[str]:
    return [sys.executable, "-m", "django", "reconcile_jobs", "--loop"]
