"""Per-job web overhead, measured against a real running studio: `python -m webapp.bench_web`.

Submits N upscale jobs one after another through the REST API, waits for each on its
websocket (the snapshot when it is already over, else the update that ends it), and
reports p50/p95 of the overhead: (done seen by the client - submit) - the engine seconds
the worker recorded for the job (`timings.engine`: model, bicubic baseline, preview and
PSNR/SSIM, less the time spent storing and sending progress events). The first `--warmup`
jobs (a cold worker loads its model) are run but left out.

Without `--url` it starts `python -m webapp.run` itself (private Redis, Celery worker,
reconciler, uvicorn) on a fresh data dir and a free port, and stops it afterwards. The server
timestamps split each job's overhead into request (submit -> row saved), queue (-> a worker
claimed it), worker (claimed -> finished, less engine time) and notify (-> the client saw
it); they are only meaningful when the studio runs on this machine (one clock).

Output: markdown lines on stdout (`--md PATH` also writes them to a file) and, with
`--json PATH`, a JSON report (`schema` "web-overhead/1"; see `report()`).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image
from websockets.sync.client import connect as ws_connect

from sr_engine.machine import cpu_label

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "web-overhead/1"
TERMINAL = {"done", "failed", "cancelled"}


# --- statistics ------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks (numpy's
    default), so p50 of an even count is the mean of the middle two."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Sample:
    """One job, in seconds. The phases need the studio's clock to be this machine's."""

    total: float  # submit -> the client saw it done
    engine: float  # timings.engine recorded by the worker
    request: float  # submit -> job row created
    queue: float  # row created -> a worker claimed it
    worker: float  # claimed -> finished, less engine
    notify: float  # finished -> the client saw it
    parts: dict[str, float] = field(default_factory=dict)  # the job's `timings`

    @property
    def overhead(self) -> float:
        return self.total - self.engine


def _stats_ms(values: list[float]) -> dict[str, float]:
    return {"p50": round(1000 * percentile(values, 50), 1),
            "p95": round(1000 * percentile(values, 95), 1),
            "mean": round(1000 * statistics.fmean(values), 1),
            "max": round(1000 * max(values), 1)}


def report(samples: list[Sample], *, meta: dict) -> dict:
    """The JSON report: `meta` (what was run) plus milliseconds over the measured jobs."""
    if not samples:
        raise ValueError("no measured jobs")
    phases = ("request", "queue", "worker", "notify")
    parts = sorted({k for s in samples for k in s.parts})
    return {"schema": SCHEMA, **meta, "measured_jobs": len(samples),
            "overhead_ms": _stats_ms([s.overhead for s in samples]),
            "total_ms": _stats_ms([s.total for s in samples]),
            "engine_ms": _stats_ms([s.engine for s in samples]),
            "phases_ms": {p: _stats_ms([getattr(s, p) for s in samples]) for p in phases},
            "engine_parts_ms": {p: _stats_ms([s.parts.get(p, 0.0) for s in samples])
                                for p in parts},
            "samples": [{**{k: round(getattr(s, k), 4) for k in (*phases, "total", "engine")},
                         "overhead": round(s.overhead, 4), "parts": s.parts}
                        for s in samples]}


def markdown(data: dict) -> str:
    """A few lines for a report (docs/RESULTS.md's performance section)."""
    o, t, e, ph = data["overhead_ms"], data["total_ms"], data["engine_ms"], data["phases_ms"]
    w, h = data["input"]
    return "\n".join([
        f"Web overhead ({data['measured_jobs']} jobs: {data['model']} x{data['scale']} on a "
        f"{w}x{h} image, one at a time through the API, {data['cpu']}):",
        "",
        "| | p50 ms | p95 ms |",
        "|---|---:|---:|",
        f"| submit -> done, less engine time | {o['p50']} | {o['p95']} |",
        f"| submit -> done | {t['p50']} | {t['p95']} |",
        f"| engine (worker-recorded) | {e['p50']} | {e['p95']} |",
        *(f"| {name} | {ph[name]['p50']} | {ph[name]['p95']} |" for name in ph),
        ""])


# --- a studio to measure ---------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def studio(timeout: float = 180) -> Iterator[tuple[str, str]]:
    """`make run` on a fresh data dir and a free port; yields (base URL, API token)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="sr-bench-web-") as tmp:
        env = {k: v for k, v in os.environ.items()
               if k not in ("REDIS_URL", "DATABASE_URL", "MEDIA_ROOT")}
        env.update(SR_DATA_DIR=str(Path(tmp) / "data"), PORT=str(port), PYTHONUNBUFFERED="1",
                   DJANGO_SETTINGS_MODULE="webapp.settings")
        log = Path(tmp) / "run.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "webapp.run"], cwd=ROOT, env=env,
                                    stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while "Press Ctrl-C" not in log.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the studio did not start:\n"
                                       + log.read_text(errors="replace")[-3000:])
                time.sleep(0.2)
            token = subprocess.run(
                [sys.executable, "-m", "django", "create_api_token", "admin"], cwd=ROOT,
                env=env, capture_output=True, text=True, check=True).stdout.strip()
            yield f"http://127.0.0.1:{port}", token
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # make run stops its children in order
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


# --- the client ------------------------------------------------------------------------
class Client:
    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base.rstrip("/"), token

    def _request(self, method: str, path: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> dict:
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers={"Authorization": f"Bearer {self.token}",
                                              **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {path}: {exc.code} {exc.read()[:500]!r}") from None

    def submit(self, image: bytes, *, model: str, scale: int) -> str:
        boundary = uuid.uuid4().hex
        body = b"".join([
            *(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
              .encode() for k, v in (("model", model), ("scale", str(scale)))),
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
            f'filename="bench.png"\r\nContent-Type: image/png\r\n\r\n'.encode(), image,
            f"\r\n--{boundary}--\r\n".encode()])
        return self._request("POST", "/api/v1/jobs", body,
                             {"Content-Type": f"multipart/form-data; boundary={boundary}"})["id"]

    def wait(self, job_id: str, timeout: float = 600) -> float:
        """Wait on the job's socket; the time.time() at which it was seen to end."""
        url = self.base.replace("http", "ws", 1) + f"/ws/jobs/{job_id}/?token={self.token}"
        with ws_connect(url, open_timeout=30) as ws:
            deadline = time.monotonic() + timeout
            while True:
                message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
                if message.get("job", {}).get("status") in TERMINAL:
                    return time.time()

    def job(self, job_id: str) -> dict:
        return self._request("GET", f"/api/v1/jobs/{job_id}")


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def run_job(client: Client, image: bytes, *, model: str, scale: int) -> Sample:
    submitted = time.time()
    job_id = client.submit(image, model=model, scale=scale)
    seen = client.wait(job_id)
    job = client.job(job_id)
    if job["status"] != "done":
        raise RuntimeError(f"job {job_id} ended {job['status']}: {job['error']}")
    timings = job.get("timings") or {}
    engine = float(timings.get("engine", 0.0))
    created, started, finished = (_epoch(job[k]) for k in
                                  ("created_at", "started_at", "finished_at"))
    return Sample(total=seen - submitted, engine=engine, request=created - submitted,
                  queue=started - created, worker=finished - started - engine,
                  notify=seen - finished, parts=timings)


def synthetic_png(width: int, height: int) -> bytes:
    """A smooth picture with a little noise: compresses and upscales like a photo."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([x / max(width - 1, 1), y / max(height - 1, 1),
                    0.5 + 0.5 * np.sin((x + y) / 9.0)], axis=-1) * 230
    rgb += np.random.default_rng(0).normal(0, 6, rgb.shape)
    buf = io.BytesIO()
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def measure(client: Client, image: bytes, *, jobs: int, warmup: int, model: str,
            scale: int) -> list[Sample]:
    for _ in range(warmup):
        run_job(client, image, model=model, scale=scale)
    return [run_job(client, image, model=model, scale=scale) for _ in range(jobs)]


def _size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m webapp.bench_web", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=50, help="measured jobs (default 50)")
    p.add_argument("--warmup", type=int, default=2, help="jobs run first, not measured")
    p.add_argument("--model", default="bicubic", help="catalogue id (default bicubic)")
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--image", type=Path, help="the upload (default: a synthetic --size PNG)")
    p.add_argument("--size", type=_size, default=(64, 64), help="WxH of the synthetic image")
    p.add_argument("--url", help="a running studio (default: start one on a fresh data dir)")
    p.add_argument("--token", default=os.environ.get("SR_API_TOKEN", ""),
                   help="API token for --url (default $SR_API_TOKEN)")
    p.add_argument("--json", type=Path, help="write the JSON report here")
    p.add_argument("--md", type=Path, help="also write the markdown lines here")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.jobs < 1 or args.warmup < 0:
        raise SystemExit("--jobs must be >= 1 and --warmup >= 0")
    if args.url and not args.token:
        raise SystemExit("--url needs --token (or $SR_API_TOKEN)")
    image = args.image.read_bytes() if args.image else synthetic_png(*args.size)
    with Image.open(io.BytesIO(image)) as picture:
        size = picture.size
    kwargs = {"jobs": args.jobs, "warmup": args.warmup, "model": args.model,
              "scale": args.scale}
    if args.url:
        samples = measure(Client(args.url, args.token), image, **kwargs)
    else:
        with studio() as (base, token):
            samples = measure(Client(base, token), image, **kwargs)
    data = report(samples, meta={
        "model": args.model, "scale": args.scale, "input": list(size),
        "image": str(args.image) if args.image else "synthetic", "warmup": args.warmup,
        "cpu": cpu_label(), "studio": args.url or "started by the bench (make run)",
        "measured_at": datetime.now().astimezone().isoformat(timespec="seconds")})
    text = markdown(data)
    print(text)
    if args.md:
        args.md.write_text(text + "\n")
    if args.json:
        args.json.write_text(json.dumps(data, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
