"""Web test fixtures: a private Redis for the session, settings pointed at it, a temporary
media dir, and (for tests that ask) a real Celery worker process on the test database."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from django.test import override_settings
from PIL import Image

from webapp.redis_server import PrivateRedis
from webapp.settings import channel_layers


@pytest.fixture(scope="session")
def private_redis() -> Iterator[PrivateRedis]:
    with PrivateRedis() as server:
        yield server


@pytest.fixture(scope="session")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session", autouse=True)
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


@pytest.fixture(scope="session", autouse=True)
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A weights folder with one small real checkpoint (ESPCN x2, untrained but seeded), so
    the catalogue offers a model beside bicubic; the worker inherits SR_ENGINE_WEIGHTS."""
    import os

    import torch

    from sr_engine.checkpoint import CheckpointMeta, save_checkpoint
    from sr_engine.registry import create_model, get_spec

    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    spec = get_spec("espcn")
    save_checkpoint(folder / "espcn_x2.safetensors", create_model("espcn", scale=2),
                    CheckpointMeta(arch="espcn", scale=2, hparams=spec.resolve_hparams(),
                                   color=spec.color, name="espcn-test"))
    old = os.environ.get("SR_ENGINE_WEIGHTS")
    os.environ["SR_ENGINE_WEIGHTS"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("SR_ENGINE_WEIGHTS", None)
    else:
        os.environ["SR_ENGINE_WEIGHTS"] = old


@pytest.fixture(scope="session")
def celery_worker_proc(django_db_setup: None, django_db_blocker: object, weights_dir: Path,
                       private_redis: PrivateRedis, media_root: Path,
                       tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A real worker (never eager mode) reading the same test database and media dir."""
    from webapp import testing

    log = tmp_path_factory.mktemp("logs") / "worker.log"
    with django_db_blocker.unblock():
        env = testing.child_env(redis_url=private_redis.url, media_root=media_root)
    proc = testing.start_worker(env, log)
    try:
        testing.wait_for_worker(proc, log)
        yield
    finally:
        testing.stop(proc)


@pytest.fixture
def worker(celery_worker_proc: None, transactional_db: None) -> None:
    """Tests that need the worker also need committed data it can see."""


def _wait_for_job(job_id: object, timeout: float = 90) -> object:
    from webapp.jobs.models import Job

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(id=job_id)
        if job.is_terminal:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job.status} after {timeout}s: {job.progress}")


def _image_bytes(width: int = 24, height: int = 16, *, fmt: str = "PNG", mode: str = "RGB",
                seed: int = 0, **save: object) -> bytes:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "CMYK": 4, "L": 1}[mode]
    pixels = rng.integers(0, 256, size=(height, width, channels), dtype=np.uint8)
    image = Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels, mode=mode)
    buf = io.BytesIO()
    image.save(buf, format=fmt, **save)
    return buf.getvalue()


@pytest.fixture
def user(django_user_model: type) -> object:
    return django_user_model.objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def other_user(django_user_model: type) -> object:
    return django_user_model.objects.create_user("mallory", password="pw-mallory-123")


@pytest.fixture
def wait_job() -> object:
    """wait_job(job_id) -> the Job once it reaches a terminal state."""
    return _wait_for_job


@pytest.fixture
def make_image() -> object:
    """make_image(width, height, fmt=, mode=) -> encoded image bytes (random pixels)."""
    return _image_bytes


@pytest.fixture
def done_result(user: object, media_root: Path, make_image: object) -> object:
    """A finished upscale written straight to the database and media dir (for page tests
    that are about galleries and access, not about running the engine)."""
    from webapp.images.models import Result, Upload
    from webapp.jobs.models import Job, JobStatus

    folder = media_root / f"u{user.pk}" / "fixture"
    folder.mkdir(parents=True, exist_ok=True)
    for name, size in (("original.png", (8, 6)), ("output.png", (16, 12)),
                       ("bicubic.png", (16, 12)), ("thumb.png", (8, 6))):
        (folder / name).write_bytes(make_image(*size))
    rel = f"u{user.pk}/fixture/"
    upload = Upload.objects.create(owner=user, name="cat.png", original=rel + "original.png",
                                   thumbnail=rel + "thumb.png", sha256="0" * 64, width=8,
                                   height=6, format="PNG")
    metrics = {"mode": "self-check", "model": {"psnr_y": 30.0, "ssim_y": 0.9},
               "bicubic": {"psnr_y": 28.0, "ssim_y": 0.85}}
    job = Job.objects.create(owner=user, kind="upscale", status=JobStatus.DONE,
                             params={"model": "bicubic", "scale": 2},
                             result={"metrics": metrics, "output": {"width": 16, "height": 12}})
    return Result.objects.create(job=job, upload=upload, model="bicubic", scale=2,
                                 output=rel + "output.png", bicubic=rel + "bicubic.png")
