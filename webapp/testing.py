"""Fixtures and helpers for the web and browser tests: a private Redis, settings pointed at
it, a temporary media dir, and the real worker and ASGI server as child processes on the
test database. Imported once by tests/conftest.py (one private Redis, worker and media dir
per test run); tests/web and tests/e2e switch them on with an autouse fixture, the engine
tests never do."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from webapp.processes import web_command, worker_command
from webapp.redis_server import PrivateRedis
from webapp.settings import channel_layers

ROOT = Path(settings.BASE_DIR)
__all__ = ["celery_worker_proc", "media_root", "private_redis", "web_settings", "weights_dir",
           "weights_env"]


def child_database_url() -> str:
    """A DATABASE_URL for child processes that points at the (already created) test DB."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    host = db["HOST"] or "localhost"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgresql://{auth}{'@' if auth else ''}{host}{port}/{db['NAME']}"


def child_env(*, redis_url: str, media_root: Path, weights_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(REDIS_URL=redis_url, SR_ENGINE_WEIGHTS=str(weights_dir),
               DATABASE_URL=child_database_url(),
               MEDIA_ROOT=str(media_root), SR_DATA_DIR=str(settings.DATA_DIR),
               SR_DEVICE="cpu", DJANGO_SETTINGS_MODULE="webapp.settings",
               PYTHONUNBUFFERED="1")
    return env


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [*worker_command(name=f"test-{os.getpid()}@%h"), "--without-gossip",
             "--without-mingle"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for_worker(proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    from webapp.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited:\n{log.read_text()[-3000:]}")
        if app.control.ping(timeout=0.5):
            return
    raise RuntimeError(f"worker did not answer a ping:\n{log.read_text()[-3000:]}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_asgi(env: dict[str, str], port: int, log: Path, timeout: float = 30) -> subprocess.Popen:
    with open(log, "ab") as out:
        proc = subprocess.Popen(web_command("127.0.0.1", port), cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the web server exited:\n{log.read_text()[-3000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.1)
    stop(proc)
    raise RuntimeError("the web server did not start listening")


def stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    """Stop a child and its whole process group (Celery's pool processes hold DB
    connections: the test database can only be dropped once they are gone)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.poll()
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


# --- fixtures ------------------------------------------------------------------------
@pytest.fixture(scope="session")
def private_redis() -> Iterator[PrivateRedis]:
    with PrivateRedis() as server:
        yield server


@pytest.fixture(scope="session")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def web_settings(private_redis: PrivateRedis, media_root: Path) -> Iterator[None]:
    from webapp.celery import app
    from webapp.env import redis_url_for_celery

    broker = redis_url_for_celery(private_redis.url)
    override = override_settings(REDIS_URL=private_redis.url, MEDIA_ROOT=str(media_root),
                                 CHANNEL_LAYERS=channel_layers(private_redis.url),
                                 CELERY_BROKER_URL=broker, SR_DEVICE="cpu")
    override.enable()
    app.conf.broker_url = broker
    yield
    override.disable()


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights folder with one small real checkpoint (ESPCN x2, untrained but seeded), so
    the catalogue offers a model beside bicubic; child processes get it through child_env."""
    import torch

    from sr_engine.checkpoint import CheckpointMeta, save_checkpoint
    from sr_engine.registry import create_model, get_spec

    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    spec = get_spec("espcn")
    save_checkpoint(folder / "espcn_x2.safetensors", create_model("espcn", scale=2),
                    CheckpointMeta(arch="espcn", scale=2, hparams=spec.resolve_hparams(),
                                   color=spec.color, name="espcn-test"))
    return folder


@pytest.fixture
def weights_env(weights_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Per test, not per session: the engine tests in the same run must not see this folder."""
    monkeypatch.setenv("SR_ENGINE_WEIGHTS", str(weights_dir))


@pytest.fixture(scope="session")
def celery_worker_proc(django_db_setup: None, django_db_blocker: object, weights_dir: Path,
                       private_redis: PrivateRedis, media_root: Path,
                       tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A real worker (never eager mode) reading the same test database and media dir."""
    log = tmp_path_factory.mktemp("logs") / "worker.log"
    with django_db_blocker.unblock():
        env = child_env(redis_url=private_redis.url, media_root=media_root,
                        weights_dir=weights_dir)
    proc = start_worker(env, log)
    try:
        wait_for_worker(proc, log)
        yield
    finally:
        stop(proc)


