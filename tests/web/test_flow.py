"""The whole path with a real Celery worker, real Redis and the real engine."""

from __future__ import annotations

import html
import io
import time

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from PIL import Image

from webapp.asgi import application
from webapp.images.models import Result
from webapp.jobs.models import Job

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


def _post_job(client, token, image: bytes, **fields) -> str:
    data = {"image": io.BytesIO(image), **fields}
    data["image"].name = "in.png"
    if "reference" in fields:
        data["reference"] = io.BytesIO(fields["reference"])
        data["reference"].name = "ref.png"
    response = client.post(reverse("api_jobs"), data, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _running_job(client, token, make_image) -> Job:
    """Post an upscale long enough to interrupt and wait until the worker has started it."""
    # 4096 tiles of 16 px: seconds of work, so a cancel (checked every 0.25 s) or a kill lands
    # before the job can finish even on a fast worker; at 256 px it sometimes finished first.
    with override_settings(SR_TILE=16):
        job_id = _post_job(client, token, make_image(1024, 1024), model="espcn_x2", scale="2")
    deadline = time.monotonic() + 60
    while (job := Job.objects.get(id=job_id)).status != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return job


def _token(username: str) -> str:
    out = io.StringIO()
    call_command("create_api_token", username, stdout=out)
    return out.getvalue().strip()


def test_api_job_finishes_with_metrics_and_an_exact_size(worker, client, user, make_image,
                                                         wait_job):
    token = _token("alice")
    job_id = _post_job(client, token, make_image(40, 30), model="espcn_x2", scale="2")
    wait_job(job_id)
    body = client.get(reverse("api_job", args=[job_id]),
                      HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert body["status"] == "done", body
    assert body["output"]["width"] == 80 and body["output"]["height"] == 60
    assert body["metrics"]["mode"] == "self-check" and body["metrics"]["region"] == ""
    for side in ("model", "bicubic"):
        assert body["metrics"][side]["psnr_y"] > 0 and 0 < body["metrics"][side]["ssim_y"] <= 1
    output = client.get(body["output_url"], HTTP_AUTHORIZATION=f"Bearer {token}")
    with Image.open(io.BytesIO(b"".join(output.streaming_content))) as image:
        assert image.size == (80, 60)


def test_a_reference_gives_true_metrics(worker, client, user, make_image, wait_job):
    token = _token("alice")
    hr = Image.open(io.BytesIO(make_image(32, 24, seed=3)))
    buf = io.BytesIO()
    hr.resize((16, 12)).save(buf, format="PNG")
    job_id = _post_job(client, token, buf.getvalue(), model="bicubic", scale="2",
                       reference=make_image(32, 24, seed=3))
    job = wait_job(job_id)
    assert job.status == "done", job.error
    assert job.result["metrics"]["mode"] == "reference"


def test_websocket_sends_progress_before_done(worker, client, user, make_image, wait_job):
    token = _token("alice")
    with override_settings(SR_TILE=16):
        blocker = _post_job(client, token, make_image(160, 160), model="espcn_x2", scale="2")
        # 1024 tiles: longer than the progress interval (a quicker job shows no tiling stage,
        # its events coalesced into the final state).
        job_id = _post_job(client, token, make_image(512, 512), model="espcn_x2", scale="2")

    async def listen() -> list[dict]:
        comm = WebsocketCommunicator(application, f"/ws/jobs/{job_id}/?token={token}")
        connected, _ = await comm.connect(timeout=10)
        assert connected
        messages = []
        while not messages or messages[-1]["job"]["status"] not in ("done", "failed"):
            messages.append(await comm.receive_json_from(timeout=120))
        await comm.disconnect()
        return messages

    messages = async_to_sync(listen)()
    stages = [m["job"]["progress"]["stage"] for m in messages]
    assert messages[0]["type"] == "snapshot"
    assert stages[-1] == "done" and messages[-1]["job"]["status"] == "done"
    assert "tiling" in stages[:-1], stages
    tiles = [m["job"]["progress"] for m in messages if m["job"]["progress"]["stage"] == "tiling"]
    assert all(t["total"] > 1 for t in tiles)
    assert wait_job(blocker).status == "done"


def test_upload_form_takes_good_files_and_explains_bad_ones(worker, client, user, make_image,
                                                            wait_job):
    client.force_login(user)
    good = io.BytesIO(make_image(20, 20))
    good.name = "good.png"
    bad = io.BytesIO(b"definitely not pixels")
    bad.name = "bad.jpg"
    response = client.post(reverse("upload"), {"images": [good, bad],
                                               "models": ["bicubic", "espcn_x2"],
                                               "scale": "2", "output_format": "webp"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "bad.jpg" in page and "not a readable image" in page and "good.png" in page
    results = list(Result.objects.filter(upload__name="good.png"))
    assert {r.model for r in results} == {"bicubic", "espcn_x2"}
    for r in results:
        assert wait_job(r.job_id).status == "done"
    bakeoff = client.get(reverse("upload_detail", args=[results[0].upload_id]))
    assert bakeoff.content.decode().count("data-metric=\"model-psnr\"") == 2
    result_page = client.get(reverse("result", args=[results[1].job_id]))
    assert result_page.status_code == 200 and "data-compare" in result_page.content.decode()
    output = client.get(reverse("result_file", args=[results[1].job_id, "download"]))
    assert output["Content-Disposition"].endswith('.webp"')


def test_deleting_an_upload_removes_its_results_and_every_file(worker, client, user,
                                                                make_image, wait_job,
                                                                media_root):
    client.force_login(user)
    image = io.BytesIO(make_image(20, 20))
    image.name = "private.png"
    client.post(reverse("upload"), {"images": [image], "models": ["bicubic"], "scale": "2"})
    result = Result.objects.get(upload__name="private.png")
    assert wait_job(result.job_id).status == "done"
    client.post(reverse("gallery_add", args=[result.job_id]), {"title": "G"})
    folders = [media_root / f"u{user.pk}" / "uploads" / str(result.upload_id),
               media_root / f"u{user.pk}" / "results" / str(result.job_id)]
    assert all(f.is_dir() and any(f.iterdir()) for f in folders)
    response = client.post(reverse("upload_delete", args=[result.upload_id]))
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert not Result.objects.filter(job_id=result.job_id).exists()
    assert not Job.objects.filter(id=result.job_id).exists()
    assert not any(f.exists() for f in folders)
    assert client.get(reverse("upload_detail", args=[result.upload_id])).status_code == 404


def test_cancel_a_running_job_leaves_no_output(worker, client, user, make_image, wait_job,
                                               media_root):
    token = _token("alice")
    job_id = str(_running_job(client, token, make_image).id)
    client.post(reverse("api_job_cancel", args=[job_id]), HTTP_AUTHORIZATION=f"Bearer {token}")
    job = wait_job(job_id)
    assert job.status == "cancelled" and job.error == "Cancelled by the user."
    assert not Result.objects.get(job_id=job_id).output
    assert not list(media_root.glob(f"u{user.pk}/results/{job_id}*"))


def test_a_failure_shows_its_error(worker, client, user, make_image, wait_job, weights_dir):
    broken = weights_dir / "espcn_broken.safetensors"
    broken.write_bytes((weights_dir / "espcn_x2.safetensors").read_bytes())
    token = _token("alice")
    job_id = _post_job(client, token, make_image(12, 12), model="espcn_broken", scale="2")
    broken.write_bytes(b"garbage")
    job = wait_job(job_id)
    broken.unlink()
    assert job.status == "failed" and job.error and "Internal error" not in job.error
    client.force_login(user)
    assert html.escape(job.error) in client.get(reverse("job", args=[job_id])).content.decode()
    api = client.get(reverse("api_job", args=[job_id]), HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.json()["error"] == job.error


def test_healthz_sees_database_redis_and_worker(worker, client):
    body = client.get("/healthz").json()
    assert body["ok"] and body["database"]["ok"] and body["redis"]["ok"]
    assert body["worker"]["workers"]


def _pool_pid(job: Job) -> int:
    return int(job.worker.rpartition(":")[2])


def test_a_killed_worker_process_retries_the_job_once_then_fails_it(worker, client, user,
                                                                     make_image, wait_job):
    import os
    import signal

    token = _token("alice")
    job = _running_job(client, token, make_image)
    first = _pool_pid(job)
    os.kill(first, signal.SIGKILL)  # the pool process, mid-job
    deadline = time.monotonic() + 60
    while not ((job := Job.objects.get(id=job.id)).status == "running" and job.attempts == 2
               and _pool_pid(job) != first):
        assert time.monotonic() < deadline, (job.status, job.attempts, job.progress)
        time.sleep(0.05)
    os.kill(_pool_pid(job), signal.SIGKILL)  # and its second try
    job = wait_job(job.id)
    assert job.status == "failed" and "stopped before it finished (try 2 of 2)" in job.error
    # The worker itself carries on with the next job.
    assert wait_job(_post_job(client, token, make_image(20, 20), scale="2")).status == "done"


def test_a_large_upload_is_self_checked_on_its_centre_and_the_page_says_so(
        worker, client, user, make_image, wait_job):
    token = _token("alice")  # the worker has the default SR_SELF_CHECK_CROP, 256
    job_id = _post_job(client, token, make_image(300, 200), scale="2")
    assert wait_job(job_id).status == "done"
    result = Job.objects.get(id=job_id).result
    metrics = result["metrics"]
    assert metrics["region"] == "the central 256x256" and metrics["model"]["psnr_y"] > 0
    # A bicubic job is its own baseline: measured once. The parts of its time are recorded.
    assert metrics["bicubic"] == metrics["model"]
    assert {"load", "model", "check", "progress", "engine"} <= set(result["timings"])
    assert 0 < result["timings"]["engine"] <= sum(
        v for k, v in result["timings"].items() if k not in ("engine", "progress"))
    client.force_login(user)
    page = client.get(reverse("result", args=[job_id])).content.decode()
    assert "Self-check: the central 256x256 pixels of the upload" in page


def test_tiff_output_gets_a_browser_preview(worker, client, user, make_image, wait_job):
    token = _token("alice")
    job_id = _post_job(client, token, make_image(20, 16), scale="3", format="tiff")
    assert wait_job(job_id).status == "done"
    result = Result.objects.get(job_id=job_id)
    assert result.output.name.endswith(".tif") and result.preview.name.endswith(".png")
    client.force_login(user)
    shown = client.get(reverse("result_file", args=[job_id, "output"]))
    with Image.open(io.BytesIO(b"".join(shown.streaming_content))) as image:
        assert image.format == "PNG" and image.size == (60, 48)
    download = client.get(reverse("result_file", args=[job_id, "download"]))
    assert download["Content-Disposition"].endswith('.tif"')
