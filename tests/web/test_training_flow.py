"""A real training job through the API and a real worker: dataset upload, live history in
the database, checkpoints, promotion into the catalogue, an upscale with the promoted
model; and cancel + resume of a run to the same end."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest
from django.urls import reverse

from webapp.api.tokens import token_create
from webapp.training.models import MetricPoint, TrainingRun

TINY = {"hparams": {"n1": 8, "n2": 8}, "batch_size": 4, "patch_size": 8, "lr": 1e-3}


@pytest.fixture
def api(client, staff):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token_create(user=staff)}"}

    def call(method: str, name: str, *args: object, status: int = 200, **kwargs: object):
        response = getattr(client, method)(reverse(name, args=args), **auth, **kwargs)
        assert response.status_code == status, response.content[:500]
        return response.json()
    return call


@pytest.fixture
def dataset(api, make_image) -> int:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(4):
            zf.writestr(f"hr/{i}.png", make_image(48, 40, seed=i))
    archive = io.BytesIO(buf.getvalue())
    archive.name = "tiny.zip"
    return api("post", "api_datasets", data={"name": "tiny", "archive": archive},
               status=201)["id"]


def _start(api, dataset: int, **overrides: object) -> dict:
    body = {"arch": "espcn", "scale": 2, "train_dataset": dataset, "val_dataset": "tiny",
            "overrides": {**TINY, **overrides}, "queue": "gpu"}
    return api("post", "api_training_jobs", data=body, content_type="application/json",
               status=201)


@pytest.mark.slow
def test_training_job_history_checkpoint_promotion_and_upscale(worker, api, dataset, wait_job,
                                                               make_image):
    started = _start(api, dataset, steps=40, log_every=2, val_every=10, ckpt_every=10,
                     keep_last=1)
    job = wait_job(started["job"])
    assert job.status == "done", job.error
    run = api("get", "api_training_job", started["id"])
    assert (run["status"], run["step"], run["total_steps"]) == ("done", 40, 40)
    assert run["latest"]["val"]["step"] == 40 and run["latest"]["val"]["psnr"] > 10
    assert set(run["latest"]["train"]) >= {"step", "loss", "lr", "it/s"}
    val_steps = list(MetricPoint.objects.filter(run_id=started["id"], kind="val")
                     .values_list("step", flat=True))
    assert val_steps == [10, 20, 30, 40]  # every validation stored, none throttled away
    assert MetricPoint.objects.filter(run_id=started["id"], kind="train").count() >= 2
    out = Path(TrainingRun.objects.get(id=started["id"]).out_dir)
    assert (out / "best.safetensors").is_file()
    assert [p.name for p in out.glob("step_*")] == ["step_0000040.safetensors"]  # keep_last
    assert run["sample_step"] == 40 and (out / "samples" / "model.png").is_file()

    promoted = api("post", "api_training_job_action", started["id"], "promote",
                   data={"name": "tiny-espcn"}, content_type="application/json", status=201)
    assert promoted["arch"] == "espcn" and promoted["metrics"]["psnr"] > 10
    models = {m["id"]: m for m in api("get", "api_models")["models"]}
    assert models["tiny-espcn"]["kind"] == "promoted" and models["tiny-espcn"]["scales"] == [2]
    image = io.BytesIO(make_image(20, 16))
    image.name = "cat.png"
    queued = api("post", "api_jobs", data={"image": image, "model": "tiny-espcn", "scale": 2},
                 status=201)
    upscale = wait_job(queued["id"])
    assert upscale.status == "done", upscale.error
    assert upscale.result["output"]["width"] == 40


@pytest.mark.slow
def test_cancel_then_resume_finishes_the_same_run(worker, api, dataset, wait_job):
    started = _start(api, dataset, steps=300, log_every=5, val_every=1000, ckpt_every=1000)
    deadline = time.monotonic() + 60
    while TrainingRun.objects.get(id=started["id"]).step < 5:
        assert time.monotonic() < deadline, "training made no progress"
        time.sleep(0.1)
    api("post", "api_training_job_action", started["id"], "cancel")
    assert wait_job(started["job"]).status == "cancelled"
    stopped = api("get", "api_training_job", started["id"])
    # The cancel saved a resumable state although no periodic checkpoint was due yet.
    assert stopped["can_resume"] and stopped["step"] < 300

    resumed = api("post", "api_training_job_action", started["id"], "resume")
    assert resumed["job"]["id"] != started["job"] and resumed["attempts"] == 2
    assert wait_job(resumed["job"]["id"], timeout=180).status == "done"
    final = api("get", "api_training_job", started["id"])
    assert final["step"] == 300 and final["status"] == "done"
    steps = list(MetricPoint.objects.filter(run_id=started["id"], kind="train")
                 .values_list("step", flat=True))
    assert steps == sorted(steps) and len(steps) == len(set(steps))  # one curve, no repeats
