"""`make run`: one command for a single machine. Migrates, starts a private Redis (unless
REDIS_URL is set), a Celery worker and the ASGI server, prints the URL and how to log in;
Ctrl-C (or SIGTERM) stops all of it, and children die with us even if we are killed."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time

from django.core.exceptions import ImproperlyConfigured

from webapp.env import env_int
from webapp.redis_server import PrivateRedis, die_with_parent

HOST = "127.0.0.1"
def _spawn(args: list[str]) -> subprocess.Popen:
    # Own session: a terminal Ctrl-C reaches only us, and we stop children in order.
    return subprocess.Popen(args, start_new_session=True, preexec_fn=die_with_parent)


def _stop(proc: subprocess.Popen, name: str) -> None:
    for sig, wait in ((signal.SIGTERM, 8), (signal.SIGQUIT, 4), (signal.SIGKILL, 4)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)  # the whole group: Celery's pool children too
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            print(f"  {name} still running after {sig.name}", flush=True)


def _wait_for_port(port: int, procs: list[subprocess.Popen], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a server process exited during start-up (see its log above)")
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {HOST}:{port} after {timeout:.0f}s")


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
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    redis, named = None, []
    try:
        if not os.environ.get("REDIS_URL"):
            redis = PrivateRedis().start()
            os.environ["REDIS_URL"] = redis.url
            print(f"Private Redis on {redis.socket}", flush=True)
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", interactive=False, verbosity=0)
        hint = _login_hint()
        py = sys.executable
        named.append(("worker", _spawn([py, "-m", "celery", "-A", "webapp", "worker",
                                        "-Q", "gpu,default", "--concurrency", "1",
                                        "--loglevel", "INFO"])))
        named.append(("web server", _spawn([py, "-m", "daphne", "-b", HOST, "-p", str(port),
                                            "webapp.asgi:application"])))
        procs = [proc for _, proc in named]
        _wait_for_port(port, procs)
        print(f"\n  SR Studio is running at http://{HOST}:{port}/\n  {hint}\n"
              "  Press Ctrl-C to stop.\n", flush=True)
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        print("A server process exited; stopping the rest.", flush=True)
        return 1
    except (_Stop, KeyboardInterrupt):
        print("\nStopping…", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip cleanup
        for name, proc in reversed(named):  # web first: no new jobs while the worker stops
            _stop(proc, name)
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
