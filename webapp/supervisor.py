"""Keep a set of child processes running: one that exits is restarted after a backoff
(1 s, doubling to 30 s; back to 1 s once it has run for a minute), with a log line each
time. `stop()` ends them in reverse order. Used by `make run` (webapp.run)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

from webapp.redis_server import die_with_parent

MAX_BACKOFF = 30.0
HEALTHY_AFTER = 60.0


def spawn(args: list[str]) -> subprocess.Popen:
    # Own session (so a terminal Ctrl-C reaches only the supervisor, which stops children in
    # order) and own process group (so stopping one also stops what it forked: Celery's pool).
    return subprocess.Popen(args, start_new_session=True, preexec_fn=die_with_parent)


def stop_group(proc: subprocess.Popen, name: str) -> None:
    """Stop a child and everything in its process group (TERM, then QUIT, then KILL)."""
    for sig, wait in ((signal.SIGTERM, 8), (signal.SIGQUIT, 4), (signal.SIGKILL, 4)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return  # the whole group is gone
        if proc.poll() is None:
            try:
                proc.wait(wait)
            except subprocess.TimeoutExpired:
                print(f"  {name} still running after {sig.name}", flush=True)
        else:
            time.sleep(0.2 if sig != signal.SIGKILL else 0)  # orphans of a dead leader


@dataclass
class Child:
    name: str
    start: Callable[[], subprocess.Popen]
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: float = 1.0
    restart_at: float | None = None


class Supervisor:
    def __init__(self) -> None:
        self.children: list[Child] = []

    def add(self, name: str, start: Callable[[], subprocess.Popen],
            running: subprocess.Popen | None = None) -> Child:
        """Keep `start()`'s process running (`running`: one already started by the caller)."""
        child = Child(name, start)
        self.children.append(child)
        if running is None:
            self._launch(child)
        else:
            child.proc, child.started_at = running, time.monotonic()
        return child

    def _launch(self, child: Child) -> None:
        try:
            child.proc = child.start()
        except (RuntimeError, OSError) as exc:
            child.proc = None
            self._schedule(child, f"{child.name} did not start ({exc})")
            return
        child.started_at, child.restart_at = time.monotonic(), None

    def _schedule(self, child: Child, why: str) -> None:
        print(f"{why}; restarting it in {child.backoff:.0f} s", flush=True)
        child.restart_at = time.monotonic() + child.backoff
        child.backoff = min(child.backoff * 2, MAX_BACKOFF)

    def poll(self) -> None:
        """Notice exits and run due restarts; call it every fraction of a second."""
        now = time.monotonic()
        for child in self.children:
            if child.proc is not None and (code := child.proc.poll()) is not None:
                if now - child.started_at >= HEALTHY_AFTER:
                    child.backoff = 1.0
                stop_group(child.proc, child.name)  # what it forked goes with it
                child.proc = None
                self._schedule(child, f"{child.name} exited (code {code})")
            elif child.proc is None and child.restart_at is not None and now >= child.restart_at:
                self._launch(child)

    def stop(self) -> None:
        for child in reversed(self.children):
            if child.proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    stop_group(child.proc, child.name)
