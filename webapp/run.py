"""`make run`: one command for a single machine. Migrates, starts a private Redis (unless
REDIS_URL is set; it keeps its data in SR_DATA_DIR/redis), a Celery worker, the job
reconciler and the ASGI server, prints the URL and how to log in. A part that exits is
restarted with backoff; Ctrl-C (or SIGTERM) stops all of it, and children die with us even
if we are killed."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sys
import time
from pathlib import Path

import django
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from webapp.env import env_int, env_path
from webapp.processes import reconciler_command, web_command, worker_command
from webapp.redis_server import PrivateRedis
from webapp.supervisor import Supervisor, spawn

ROOT = Path(__file__).resolve().parent.parent

HOST = "127.0.0.1"


def _wait_for_port(port: int, supervisor: Supervisor, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        supervisor.poll()
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {HOST}:{port} after {timeout:.0f}s")


def _check_port_free(port: int) -> None:
    # Otherwise the port check below would find the other program and report us running.
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            raise RuntimeError(f"{HOST}:{port} is already in use: stop what listens there, "
                               "or set PORT") from None


def _login_hint() -> str:
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    if users.filter(is_superuser=True).exists():
        return ("Log in with your account (forgot the password? "
                ".venv/bin/python manage.py changepassword USERNAME).")
    password = secrets.token_urlsafe(12)
    username = "admin" if not users.filter(username="admin").exists() else "admin-" + \
        secrets.token_hex(2)
    users.create_superuser(username=username, email="", password=password)
    return (f"First start: created the admin user {username!r} with the one-time password\n"
            f"      {password}\n"
            "    It is shown only now: log in and change it at /accounts/password/\n"
            "    (or make your own: .venv/bin/python manage.py createsuperuser).")


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop


def main() -> int:
    port = env_int("PORT", 8000, minimum=1)
    if port > 65535:
        raise ImproperlyConfigured(f"PORT={port}: must be at most 65535")
    os.umask(0o077)  # the data dir, database and media (and our children's) stay private
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    # One person on 127.0.0.1 tries the studio: let them sign up (production defaults closed).
    os.environ.setdefault("SR_SIGNUP", "open")
    _check_port_free(port)
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    supervisor = Supervisor()
    redis: PrivateRedis | None = None
    try:
        if not os.environ.get("REDIS_URL"):
            data_dir = env_path("SR_DATA_DIR", ROOT / "var")
            redis = PrivateRedis(data_dir=data_dir / "redis").start()
            os.environ["REDIS_URL"] = redis.url
            supervisor.add("private Redis", redis.launch, running=redis.proc)
            print(f"Private Redis on {redis.socket} (kept in {data_dir / 'redis'})", flush=True)
        django.setup()
        call_command("migrate", interactive=False, verbosity=0)
        hint = _login_hint()
        supervisor.add("worker", lambda: spawn(worker_command()))
        supervisor.add("reconciler", lambda: spawn(reconciler_command()))
        supervisor.add("web server", lambda: spawn(web_command(HOST, port)))
        _wait_for_port(port, supervisor)
        print(f"\n  SR Studio is running at http://{HOST}:{port}/\n  {hint}\n"
              "  Press Ctrl-C to stop.\n", flush=True)
        while True:  # a part that exits is restarted (webapp.supervisor); Ctrl-C ends this
            supervisor.poll()
            time.sleep(0.5)
    except (_Stop, KeyboardInterrupt):
        print("\nStopping…", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip cleanup
        supervisor.stop()  # web first: no new jobs while the worker stops; Redis last
        if redis is not None:
            redis.stop()


def cli() -> int:
    """`make run`: a bad setting or a failed start ends with one line, not a traceback."""
    try:
        return main()
    except (ImproperlyConfigured, RuntimeError, OSError) as exc:
        print(f"sr-studio: error: {exc}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(cli())
