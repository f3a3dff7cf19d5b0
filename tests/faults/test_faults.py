"""The fault suite (docs/RELIABILITY.md): `make run`'s real processes are killed, paused and
flooded, and every job still ends, every listener hears the end, nothing answers 5xx (the
session fixture reads the access log), and the web server's memory stays bounded."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial

import psutil
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect_sync

from tests.faults.studio import (
    STUCK_AFTER,
    TERMINAL,
    Studio,
    image_bytes,
    multipart,
    pool_child,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
MB = 1024 * 1024


@contextmanager
def paused_worker(studio: Studio) -> Iterator[None]:
    """SIGSTOP the whole worker (main and pool) so jobs stay queued, deterministically.
    Only once no job runs: a worker frozen mid-job may hold SQLite's write lock, and then
    every request waits out the lock (the 503 of test_limits), which is not this fault."""
    deadline = time.monotonic() + STUCK_AFTER
    while _running(studio):
        assert time.monotonic() < deadline, studio.tail()
        time.sleep(0.2)
    group = studio.worker_main().pid
    os.killpg(group, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(group, signal.SIGCONT)


def _running(studio: Studio) -> int:
    with sqlite3.connect(studio.data_dir / "db.sqlite3") as db:
        return db.execute("SELECT COUNT(*) FROM jobs_job WHERE status = 'running'").fetchone()[0]


def _submit(studio: Studio, seed: int = 0) -> str:
    response = studio.submit(image_bytes(32, 24, seed=seed))
    assert response.status == 201, response.body
    return response.json()["id"]


def test_a_quiet_socket_stays_open_gets_keepalives_and_the_next_event(studio):
    with paused_worker(studio):
        job_id = _submit(studio)
        with ws_connect_sync(studio.ws_url(job_id), open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
            started = time.monotonic()
            # Longer than the old 5 s Redis read timeout that closed idle sockets with 1011.
            assert json.loads(ws.recv(timeout=15)) == {"type": "keepalive"}
            time.sleep(max(0.0, 8 - (time.monotonic() - started)))
            studio.request("POST", f"/api/v1/jobs/{job_id}/cancel")
            update = json.loads(ws.recv(timeout=10))
            while update["type"] == "keepalive":
                update = json.loads(ws.recv(timeout=10))
            assert update["type"] == "update" and update["job"]["status"] == "cancelled"
    retried = studio.request("POST", f"/api/v1/jobs/{job_id}/retry")
    assert retried.status == 200 and retried.json()["status"] == "queued"
    assert studio.wait_status(job_id, TERMINAL)["status"] == "done"


def test_a_killed_pool_process_mid_job_is_retried_and_finishes(studio):
    job_id = studio.long_job()
    pool_child(studio).kill()
    job = studio.wait_status(job_id, TERMINAL, timeout=STUCK_AFTER + 60)
    assert job["status"] == "done" and job["attempts"] == 2, job


def test_a_killed_worker_main_process_is_restarted_and_its_job_finishes(studio):
    job_id = studio.long_job()
    main = studio.worker_main()
    main.kill()
    killed = time.monotonic()
    job = studio.wait_status(job_id, TERMINAL, timeout=STUCK_AFTER + 90)
    assert job["status"] == "done" and job["attempts"] == 2, job
    assert studio.worker_main().pid != main.pid
    assert "worker exited (code -9); restarting it" in studio.tail(10**6)
    assert _submit_and_finish(studio) and time.monotonic() - killed < STUCK_AFTER + 90


def _submit_and_finish(studio: Studio) -> bool:
    return studio.wait_status(_submit(studio), TERMINAL)["status"] == "done"


def test_redis_killed_mid_job_and_a_submission_during_the_outage(studio):
    job_id = studio.long_job()
    studio.redis().kill()
    refused = studio.submit(image_bytes(32, 24))
    assert refused.status == 503, refused.body
    assert "not reachable" in refused.json()["error"] and refused.headers.get("Retry-After")
    deadline = time.monotonic() + 30
    while studio.get("/healthz").status != 200:  # the supervisor restarts Redis
        assert time.monotonic() < deadline, studio.tail()
        time.sleep(0.3)
    assert studio.wait_status(job_id, TERMINAL, timeout=STUCK_AFTER + 60)["status"] == "done"
    assert _submit_and_finish(studio)


def _enqueued_at(studio: Studio, job_ids: list[str]) -> dict[str, str]:
    with sqlite3.connect(studio.data_dir / "db.sqlite3") as db:
        rows = db.execute("SELECT id, enqueued_at FROM jobs_job").fetchall()
    wanted = {j.replace("-", "") for j in job_ids}
    return {row[0]: row[1] for row in rows if row[0] in wanted}


def test_a_restart_keeps_queued_jobs_in_the_private_redis(studio):
    running = studio.long_job()
    queued = [_submit(studio, seed) for seed in range(3)]
    before = _enqueued_at(studio, queued)
    assert len(before) == 3 and all(before.values())
    studio.stop()  # Ctrl-C while one job runs and three wait
    assert (studio.data_dir / "redis" / "appendonly.aof").stat().st_size > 0
    studio.start()
    for job_id in queued:
        assert studio.wait_status(job_id, TERMINAL)["status"] == "done"
    # Never republished: their messages came back with Redis, not from the sweeper.
    assert _enqueued_at(studio, queued) == before
    assert studio.wait_status(running, TERMINAL, timeout=STUCK_AFTER + 60)["status"] == "done"


def test_30_submissions_with_100_quiet_listeners_lose_no_job_and_no_event(studio):
    with paused_worker(studio), ThreadPoolExecutor(30) as pool:
        job_ids = list(pool.map(partial(_submit, studio), range(30)))  # all at once
        outcome = asyncio.run(_listen_all(studio, job_ids, listeners=100, quiet=10))
    assert len(outcome) == 100 and all(status == "done" for status in outcome), outcome
    assert all(studio.job(j)["status"] == "done" for j in job_ids)


async def _listen_all(studio: Studio, job_ids: list[str], *, listeners: int,
                      quiet: float) -> list[str]:
    ready = asyncio.Event()
    connected: list[int] = []

    async def listen(job_id: str) -> str:
        async with ws_connect(studio.ws_url(job_id), open_timeout=30) as ws:
            assert json.loads(await ws.recv())["type"] == "snapshot"
            connected.append(1)
            if len(connected) == listeners:
                ready.set()
            while True:  # every update, keepalives between, until the job ends
                message = json.loads(await asyncio.wait_for(ws.recv(), STUCK_AFTER + 30))
                if message["type"] == "update" and message["job"]["status"] in TERMINAL:
                    return message["job"]["status"]

    tasks = [asyncio.create_task(listen(job_ids[i % len(job_ids)])) for i in range(listeners)]
    await asyncio.wait_for(ready.wait(), 60)
    await asyncio.sleep(quiet)  # all sit quiet while the worker is paused...
    os.killpg(studio.worker_main().pid, signal.SIGCONT)  # ...then every job runs
    return await asyncio.gather(*tasks)


def _web_rss(studio: Studio) -> int:
    return studio.web().memory_info().rss


def _raw_request(studio: Studio, head: str, body_chunks: Iterator[bytes] | None = None,
                 timeout: float = 10) -> tuple[int, bytes, float]:
    """Send a request by hand (headers, then as much body as the server takes); return the
    status, the body of the answer and how long the answer took."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", studio.port), timeout=timeout) as sock:
        sock.sendall(head.encode())
        try:
            for chunk in body_chunks or ():
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused mid-body: the answer is waiting to be read
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    status = int(answer.split(b" ", 2)[1])
    return status, answer.partition(b"\r\n\r\n")[2], time.monotonic() - started


def _head(path: str, length: int | None, token: str | None = None) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1",
             "Content-Type: multipart/form-data; boundary=x"]
    lines.append(f"Content-Length: {length}" if length is not None
                 else "Transfer-Encoding: chunked")
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return "\r\n".join(lines) + "\r\n\r\n"


def _chunked(total: int, size: int = MB) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield f"{size:x}\r\n".encode() + b"\0" * size + b"\r\n"
        sent += size
    yield b"0\r\n\r\n"


def test_oversize_and_anonymous_bodies_are_refused_before_they_are_read(studio):
    base = _web_rss(studio)
    peak = base
    cases = [  # (request head, body, expected status)
        (_head("/api/v1/jobs", 300 * MB, studio.token), None, 413),
        (_head("/upload/", 300 * MB), None, 413),
        (_head("/api/v1/jobs", 10 * MB), None, 401),  # anonymous: not even 10 MB
        (_head("/upload/", None), _chunked(300 * MB), 401),
        (_head("/api/v1/jobs", None, studio.token), _chunked(300 * MB), 413),
    ]
    for head, body, expected in cases:
        status, answer, seconds = _raw_request(studio, head, body, timeout=60)
        peak = max(peak, _web_rss(studio))
        assert status == expected, (head, answer)
        assert seconds < 30, (head, seconds)
        assert b"limit" in answer or b"log in" in answer, answer
    assert peak - base < 200 * MB, (base, peak)


@pytest.mark.parametrize("path", [
    "/static/../webapp/settings.py", "/static/%2e%2e/%2e%2e/etc/passwd",
    "/static/css/..%2f..%2f..%2fmanage.py", "/static/%00", "/static/" + "a" * 5000,
    "/static/css/site.css/..", "/static/css/site.css%00.png",
])
def test_static_traversal_is_404(studio, path):
    assert studio.get(path).status == 404


def test_static_files_are_served(studio):
    assert studio.get("/static/css/site.css").status == 200


@pytest.mark.parametrize("path", [
    "/jobs/not-a-uuid/", "/api/v1/jobs/00000000-0000-0000-0000-000000000000",
    "/api/v1/jobs/%00", "/uploads/00000000-0000-0000-0000-000000000000/%2e%2e", "/s/%ff%fe/",
    "/galleries/99999999999999999999999/", "/training/datasets/1/thumb/99999999999999999999",
])
def test_crafted_paths_answer_below_500(studio, path):
    assert studio.get(path).status < 500  # 404, or a redirect to log in for page routes


@pytest.mark.parametrize("path", ["/ws/jobs/not-a-uuid/", "/ws/x", "/ws/jobs/../../etc/"])
def test_crafted_websocket_paths_are_closed_with_4404(studio, path):
    with ws_connect_sync(f"ws://127.0.0.1:{studio.port}{path}?token={studio.token}") as ws, \
            pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)
    assert closed.value.rcvd.code == 4404


def test_crafted_job_requests_are_4xx_with_a_message(studio):
    huge = studio.submit(image_bytes(1500, 1500), scale=8)
    assert huge.status == 400 and "the largest input is" in huge.json()["error"]
    for fields in ({"scale": "0"}, {"scale": "x"}, {"model": "../../etc/passwd"}):
        body, kind = multipart({"model": "bicubic", "scale": "2", **fields},
                               {"image": ("a.png", image_bytes(8, 8))})
        response = studio.request("POST", "/api/v1/jobs", body, {"Content-Type": kind})
        assert response.status == 400 and response.json()["error"], response.body
    garbage = studio.request("POST", "/api/v1/jobs", b"--x\r\nnonsense",
                             {"Content-Type": "multipart/form-data; boundary=x"})
    assert garbage.status == 400, garbage.body


def _serving_again(studio: Studio, old_pid: int) -> bool:
    try:
        return studio.web().pid != old_pid and studio.get("/healthz").status == 200
    except (AssertionError, OSError):  # not started yet, or not listening yet
        return False


def test_a_killed_web_server_is_restarted(studio):
    web = studio.web()
    web.kill()
    deadline = time.monotonic() + 60
    while not _serving_again(studio, web.pid):
        assert time.monotonic() < deadline, studio.tail()
        time.sleep(0.3)
    assert "web server exited (code -9); restarting it" in studio.tail(10**6)


def test_make_run_still_serves_after_the_faults(studio):
    assert studio.get("/healthz").status == 200
    assert psutil.pid_exists(studio.proc.pid) and _submit_and_finish(studio)
