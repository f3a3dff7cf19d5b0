"""Web test fixtures: a private Redis for the session, settings pointed at it, a temporary
media dir, and (for tests that ask) a real Celery worker process on the test database."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(autouse=True)
def web_stack(web_settings: None, weights_env: None) -> None:
    """The shared fixtures of tests/conftest.py (private Redis, settings, weights), switched on."""


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
def staff(django_user_model: type) -> object:
    return django_user_model.objects.create_user("sam", password="pw-sam-12345", is_staff=True)


@pytest.fixture
def staff_client(client: object, staff: object) -> object:
    """A test client logged in as `staff` (also reachable as `staff_client.staff`)."""
    client.force_login(staff)
    client.staff = staff
    return client


@pytest.fixture
def wait_job() -> object:
    """wait_job(job_id) -> the Job once it reaches a terminal state."""
    return _wait_for_job


@pytest.fixture
def make_image() -> object:
    """make_image(width, height, fmt=, mode=) -> encoded image bytes (random pixels)."""
    return _image_bytes


@pytest.fixture
def archive_dataset(staff_client: object, make_image: object) -> object:
    """archive_dataset(name, n=3) -> a Dataset made by `staff` from a zip of n 40x32 PNGs."""
    import zipfile

    from django.core.files.uploadedfile import SimpleUploadedFile

    from webapp.training.datasets import dataset_create_from_archive

    def make(name: str, n: int = 3) -> object:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for i in range(n):
                zf.writestr(f"{i}.png", make_image(40, 32, seed=i))
        return dataset_create_from_archive(owner=staff_client.staff, name=name,
                                           archive=SimpleUploadedFile("d.zip", buf.getvalue()))
    return make


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
                             params={"model": "espcn_x2", "scale": 2},
                             result={"metrics": metrics, "output": {"width": 16, "height": 12}})
    return Result.objects.create(job=job, upload=upload, model="espcn_x2", scale=2,
                                 output=rel + "output.png", bicubic=rel + "bicubic.png")
