"""Staff pages of the training studio, rendered from the database (no worker): a reload
shows the whole stored history; dataset thumbnails and degradation preview; how live progress
reaches the history."""

from __future__ import annotations

import io
import json

import pytest
from django.urls import reverse
from PIL import Image

from sr_engine.progress import ProgressEvent
from webapp import progress
from webapp.jobs.models import Job, JobStatus
from webapp.training.models import MetricPoint
from webapp.training.runner import TrainProgress
from webapp.training.services import training_run_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(archive_dataset):
    return archive_dataset("pages")


def test_run_page_and_status_carry_the_whole_history(staff_client, dataset):
    run = training_run_create(owner=staff_client.staff, arch="espcn", scale=2,
                              train_dataset=dataset, val_dataset=dataset,
                              overrides={"steps": 100}, recipe="espcn_x2")
    assert run.config["train"]["val_every"] == 10 and run.config["optim"]["warmup_steps"] == 10
    for step in range(1, 101):
        MetricPoint.objects.create(run=run, kind="train", step=step, ts=0,
                                   values={"loss": 1 / step, "lr": 1e-3, "it/s": 5.0})
    MetricPoint.objects.create(run=run, kind="val", step=100, ts=0,
                               values={"psnr": 30.0, "ssim": 0.9})
    page = staff_client.get(reverse("training_run", args=[run.id]))
    assert page.status_code == 200
    history = json.loads(page.content.decode().split('id="history" type="application/json">')[1]
                         .split("</script>")[0])
    assert len(history["train"]) == 100 and history["val"][0]["psnr"] == 30.0
    status = staff_client.get(reverse("training_run_status", args=[run.id])).json()
    assert status["run"]["latest"]["val"] == {"step": 100, "psnr": 30.0, "ssim": 0.9}
    assert status["run"]["can_resume"] is False and status["run"]["checkpoints"]["best"] is None
    response = staff_client.post(reverse("training_run_promote", args=[run.id]),
                                 {"name": "nothing-yet", "which": "best"}, follow=True)
    assert "no best checkpoint" in response.content.decode()


def test_promoting_an_unreadable_checkpoint_leaves_no_model_behind(staff_client, dataset):
    from pathlib import Path

    from webapp.training.models import PromotedModel
    from webapp.training.services import promoted_root

    run = training_run_create(owner=staff_client.staff, arch="espcn", scale=2,
                              train_dataset=dataset, val_dataset=dataset,
                              overrides={"steps": 100}, recipe="espcn_x2")
    Path(run.out_dir).mkdir(parents=True, exist_ok=True)
    (Path(run.out_dir) / "best.safetensors").write_bytes(b"not a checkpoint")
    response = staff_client.post(reverse("training_run_promote", args=[run.id]),
                                 {"name": "garbled", "which": "best"}, follow=True)
    assert "not a readable safetensors file" in response.content.decode()
    assert not PromotedModel.objects.filter(name="garbled").exists()
    assert not list(promoted_root().glob("*garbled*"))


def test_new_run_form_shows_engine_errors(staff_client, dataset):
    response = staff_client.post(reverse("training_run_new"), {
        "arch": "espcn", "scale": 2, "train_dataset": dataset.id, "steps": 10,
        "patch_size": 2, "queue": "gpu"})
    assert response.status_code == 200 and "patch_size" in response.content.decode()


def test_dataset_page_thumbnails_and_degradation_preview(staff_client, dataset):
    page = staff_client.get(reverse("training_dataset", args=[dataset.id]),
                            {"scale": 2, "noise_prob": 1})
    assert page.status_code == 200 and b"3 images" in page.content
    thumb = staff_client.get(reverse("training_dataset_thumb", args=[dataset.id, 0]))
    assert b"".join(thumb.streaming_content)[:4] == b"\x89PNG"
    for kind, size in (("hr", 32), ("lr", 32), ("bicubic", 32)):
        png = staff_client.get(reverse("training_dataset_preview", args=[dataset.id, kind]),
                               {"scale": 2, "noise_prob": 1, "seed": 3})
        assert png.status_code == 200
        assert Image.open(io.BytesIO(png.content)).size == (size, size)
    bad = staff_client.get(reverse("training_dataset_preview", args=[dataset.id, "lr"]),
                           {"scale": 2, "noise_prob": 7})
    assert bad.status_code == 400


def test_studio_and_evaluations_pages_render(staff_client, dataset):
    assert b"pages" in staff_client.get(reverse("training")).content
    response = staff_client.get(reverse("training_evaluations"))
    assert response.status_code == 200 and b"bicubic" in response.content


def test_live_training_points_are_never_throttled_behind_a_heartbeat(staff_client, dataset,
                                                                     monkeypatch):
    """The engine's metric-free heartbeats share the 0.25 s throttle with other events, but a
    log line right after one is still stored and broadcast: the live chart misses nothing."""
    run = training_run_create(owner=staff_client.staff, arch="espcn", scale=2,
                              train_dataset=dataset, val_dataset=dataset,
                              overrides={"steps": 100}, recipe="espcn_x2")
    Job.objects.filter(id=run.job_id).update(status=JobStatus.RUNNING)
    sent: list[dict] = []
    monkeypatch.setattr(progress, "job_broadcast", lambda job_id, payload: sent.append(payload))
    callback = TrainProgress(run.job_id, run.id)
    for step, metrics in [(1, {}), (2, {"loss": 0.5, "lr": 1e-3}), (3, {})]:
        callback(ProgressEvent(stage="training", current=step, total=100, metrics=metrics))
    assert [p["progress"]["current"] for p in sent] == [1, 2]  # 3: a heartbeat, throttled
    assert sent[1]["progress"]["metrics"]["loss"] == 0.5
    assert list(MetricPoint.objects.filter(run=run).values_list("kind", "step")) == [("train", 2)]
