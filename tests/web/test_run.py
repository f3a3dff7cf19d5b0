"""`make run` (python -m webapp.run) on an empty data dir: serves, reports health, prints how
to log in, and Ctrl-C leaves nothing running."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from webapp.testing import ROOT, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]


def _get_json(url: str) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:  # 503 still carries the report
        return json.load(exc)


def test_make_run_serves_and_stops_cleanly(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "DATABASE_URL", "MEDIA_ROOT")}
    env.update(SR_DATA_DIR=str(tmp_path / "data"), PORT=str(port), PYTHONUNBUFFERED="1")
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "webapp.run"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while "Press Ctrl-C" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        text = log.read_text()
        assert f"http://127.0.0.1:{port}/" in text
        assert re.search(r"admin user 'admin' with the one-time password\n\s+\S{12,}", text)
        assert (tmp_path / "data" / "db.sqlite3").exists()
        while not (report := _get_json(f"http://127.0.0.1:{port}/healthz"))["ok"]:
            assert time.monotonic() < deadline, report
            time.sleep(0.5)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert {"redis-server"} <= {c.name() for c in children}
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    assert proc.returncode == 0, log.read_text()[-3000:]
    time.sleep(0.5)
    alive = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [(c.pid, c.name()) for c in alive]


def test_make_run_refuses_a_port_in_use_with_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
        env.update(SR_DATA_DIR=str(tmp_path / "data"), PORT=str(port))
        proc = subprocess.run([sys.executable, "-m", "webapp.run"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"sr-studio: error: 127.0.0.1:{port} is already in use: "
                                   "stop what listens there, or set PORT")
