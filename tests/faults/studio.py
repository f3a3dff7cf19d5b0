"""The fault suite's studio: `make run` itself (python -m webapp.run) on a fresh data dir and
a free port, with its private Redis, Celery worker, reconciler and uvicorn, driven over
HTTP and websockets the way a user or API client would, and hurt by killing its real
processes. One studio serves the whole suite (start-up imports torch: seconds).

The delivery timings are shortened (heartbeat 1 s, lost after 6 s, sweep every 1 s) so the
suite stays quick; the assertions still hold the studio to the documented bound: no job
stuck more than 60 s after a fault ends."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import numpy as np
import psutil
from PIL import Image

from webapp.testing import ROOT, free_port

TERMINAL = {"done", "failed", "cancelled"}
STUCK_AFTER = 60.0  # the promise: no job stuck longer than this after a fault ends
FAST = {"SR_JOB_HEARTBEAT_SECONDS": "1", "SR_JOB_STALE_SECONDS": "6", "SR_SWEEP_SECONDS": "1",
        "SR_QUEUE_GRACE_SECONDS": "5", "SR_WS_KEEPALIVE_SECONDS": "6",
        # a video job keeps a finished segment every second: a kill loses at most that
        "SR_VIDEO_SEGMENT_SECONDS": "1"}


def image_bytes(width: int, height: int, seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     f"{value}\r\n".encode())
    for name, (filename, data) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                     f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                     .encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@dataclass
class Response:
    status: int
    body: bytes
    headers: Message  # case-insensitive, as header names are

    def json(self) -> dict:
        return json.loads(self.body)


class Studio:
    """A running `make run` and what a client needs to talk to it."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir, self.log = data_dir, log
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.token = ""

    # --- lifecycle -------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("REDIS_URL", "DATABASE_URL", "MEDIA_ROOT", "SR_ENGINE_WEIGHTS")}
        env.update(FAST, SR_DATA_DIR=str(self.data_dir), PORT=str(self.port), SR_TILE="16",
                   PYTHONUNBUFFERED="1", SR_DEVICE="cpu")
        return env

    def start(self, timeout: float = 120) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "webapp.run"], cwd=ROOT,
                                         env=self.env(), stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while "Press Ctrl-C" not in self.log.read_text()[offset:]:
            assert self.proc.poll() is None, self.tail()
            assert time.monotonic() < deadline, self.tail()
            time.sleep(0.3)
        self.wait_healthy(deadline)
        if not self.token:
            self.token = self.manage("create_api_token", "admin").strip()

    def wait_healthy(self, deadline: float) -> None:
        while (health := self.get("/healthz")).status != 200:
            assert time.monotonic() < deadline, (health.body, self.tail())
            time.sleep(0.3)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(90)
        self.proc = None

    def manage(self, *args: str) -> str:
        return subprocess.run([sys.executable, "-m", "django", *args], cwd=ROOT, env=self.env(),
                              capture_output=True, text=True, check=True).stdout

    def tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:]

    # --- processes -------------------------------------------------------------------
    def children(self) -> list[psutil.Process]:
        assert self.proc is not None
        return psutil.Process(self.proc.pid).children(recursive=True)

    def process(self, marker: str) -> psutil.Process:
        """The direct child of `make run` whose command line contains `marker`."""
        assert self.proc is not None
        for child in psutil.Process(self.proc.pid).children():
            try:
                if marker in " ".join(child.cmdline()):
                    return child
            except psutil.Error:  # exited (a zombie until make run reaps it)
                continue
        raise AssertionError(f"no {marker!r} process: {self.tail()}")

    def worker_main(self) -> psutil.Process:
        return self.process("celery")

    def web(self) -> psutil.Process:
        return self.process("uvicorn")

    def redis(self) -> psutil.Process:
        return self.process("redis")

    # --- HTTP ------------------------------------------------------------------------
    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, auth: bool = True,
                timeout: float = 30) -> Response:
        headers = dict(headers or {})
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                return Response(response.status, response.read(), response.headers)
        except urllib.error.HTTPError as exc:
            return Response(exc.code, exc.read(), exc.headers)

    def get(self, path: str, **kwargs: object) -> Response:
        return self.request("GET", path, **kwargs)

    def submit(self, data: bytes, *, model: str = "bicubic", scale: int = 2,
               name: str = "picture.png") -> Response:
        body, kind = multipart({"model": model, "scale": str(scale)}, {"image": (name, data)})
        return self.request("POST", "/api/v1/jobs", body, {"Content-Type": kind})

    def job(self, job_id: str) -> dict:
        response = self.get(f"/api/v1/jobs/{job_id}")
        assert response.status == 200, response.body
        return response.json()

    def wait_status(self, job_id: str, statuses: set[str], timeout: float = STUCK_AFTER) -> dict:
        deadline = time.monotonic() + timeout
        while (job := self.job(job_id))["status"] not in statuses:
            assert time.monotonic() < deadline, (job, self.tail())
            time.sleep(0.2)
        return job

    def ws_url(self, job_id: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/jobs/{job_id}/?token={self.token}"

    def long_job(self) -> str:
        """An upscale that runs for seconds (4096 tiles of 16 px), started by the worker."""
        response = self.submit(image_bytes(1024, 1024), model="espcn_x2", scale=2)
        assert response.status == 201, response.body
        job_id = response.json()["id"]
        self.wait_status(job_id, {"running"})
        return job_id


def pool_child(studio: Studio) -> psutil.Process:
    deadline = time.monotonic() + 30
    while not (kids := studio.worker_main().children()):
        assert time.monotonic() < deadline, studio.tail()
        time.sleep(0.1)
    return kids[0]
