"""Perceptual models in the model lists (labelled with what they trade away; `objective` in the
API) and NIQE of every finished image job: stored with its metrics, shown beside PSNR/SSIM with
"lower is better", in the API's job JSON; absent, with the job still done, without the NIQE
model file or on an output too small for it.

Jobs run in this process through `jobs.services.job_execute` (the worker's own service call)
on uncommitted rows, so no worker is involved and each test picks its own $SR_NIQE_PARAMS.
The heartbeat and deferred-progress threads are kept off the database: on SQLite their own
connections would wait out the lock the test's open transaction holds."""

from __future__ import annotations

import functools
import io
import logging
from pathlib import Path

import pytest
import torch
from django.urls import reverse

from sr_engine.checkpoint import CheckpointMeta, save_checkpoint
from sr_engine.paths import shared_data_dir
from sr_engine.registry import create_model
from webapp.api.tokens import token_create
from webapp.images import niqe_check
from webapp.images.catalog import PERCEPTUAL_NOTE, model_objective
from webapp.jobs import services
from webapp.jobs.models import Job
from webapp.progress import JobProgress

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]

_SHARED = shared_data_dir()
NIQE_PARAMS = _SHARED / "metrics" / "niqe_pris_params.npz" if _SHARED else None
needs_niqe = pytest.mark.skipif(
    NIQE_PARAMS is None or not NIQE_PARAMS.is_file(),
    reason="NIQE pristine model absent (../shared/data/metrics/niqe_pris_params.npz or "
           "$SR_SHARED_DATA)")
SRGAN_HPARAMS = {"n_resblocks": 1, "n_feats": 8}


@pytest.fixture
def perceptual_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                       weights_dir: Path) -> Path:
    """The session's ESPCN x2 and a tiny untrained SRGAN x2 (a perceptual arch)."""
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "espcn_x2.safetensors").write_bytes(
        (weights_dir / "espcn_x2.safetensors").read_bytes())
    torch.manual_seed(0)
    save_checkpoint(folder / "srgan_x2.safetensors",
                    create_model("srgan", scale=2, **SRGAN_HPARAMS),
                    CheckpointMeta.for_arch("srgan", scale=2, hparams=SRGAN_HPARAMS))
    monkeypatch.setenv("SR_ENGINE_WEIGHTS", str(folder))
    return folder


@pytest.fixture(autouse=True)
def _no_db_threads(settings, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.SR_JOB_HEARTBEAT_SECONDS = 3600
    monkeypatch.setattr(services, "JobProgress", functools.partial(JobProgress, interval=3600))


def _auth(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token_create(user=user)}"}


def _run_job(client, user, image: bytes, **fields) -> Job:
    """POST an upscale through the API and run it here as the worker would."""
    upload = io.BytesIO(image)
    upload.name = "photo.png"
    response = client.post(reverse("api_jobs"), {"image": upload, "scale": "2", **fields},
                           **_auth(user))
    assert response.status_code == 201, response.content
    job_id = response.json()["id"]
    services.job_execute(job_id=job_id, worker="test")
    return Job.objects.get(id=job_id)


def test_model_lists_label_a_perceptual_model_and_the_api_gives_its_objective(
        client, user, perceptual_weights):
    models = {m["id"]: m for m in
              client.get(reverse("api_models"), **_auth(user)).json()["models"]}
    srgan, espcn = models["srgan_x2"], models["espcn_x2"]
    assert srgan["objective"] == "perceptual" and srgan["note"] == PERCEPTUAL_NOTE
    assert PERCEPTUAL_NOTE in srgan["label"] and PERCEPTUAL_NOTE in srgan["description"]
    assert espcn["objective"] == "psnr" and espcn["note"] == ""
    assert "Perceptual" not in espcn["label"]
    assert models["bicubic"]["objective"] == "psnr"
    client.force_login(user)
    form = client.get(reverse("upload")).content.decode()
    assert "srgan x2 (srgan_x2) [Perceptual: sharper, natural-looking texture; lower PSNR — " \
           "may invent detail]" in form


def test_objective_comes_from_the_arch_or_the_training_losses():
    assert model_objective("johnson") == model_objective("srgan") == "perceptual"
    assert model_objective("espcn") == model_objective("bicubic") == "psnr"
    assert model_objective("no-such-arch") == "psnr"
    # A PSNR arch fine-tuned with a loss network or a discriminator trades PSNR away too.
    assert model_objective("srresnet", feature_network={"source": "random:0"}) == "perceptual"
    assert model_objective("srresnet", recipe={"loss": {"adversarial": 1e-3}}) == "perceptual"
    assert model_objective("srresnet", recipe={"loss": {"l1": 1.0, "perceptual": 0.0}}) == "psnr"


@needs_niqe
def test_a_job_without_reference_gets_niqe_on_a_bounded_crop_shown_beside_psnr(
        client, user, make_image, monkeypatch, settings, perceptual_weights):
    monkeypatch.setenv("SR_NIQE_PARAMS", str(NIQE_PARAMS))
    settings.SR_NIQE_CROP = 192  # a 300x200 output is then "larger": its centre is measured
    job = _run_job(client, user, make_image(150, 100, seed=4), model="srgan_x2")
    assert job.status == "done", job.error
    metrics = job.result["metrics"]
    assert metrics["mode"] == "self-check" and metrics["objective"] == "perceptual"
    assert metrics["niqe_region"] == "centre 192 px crop" and "niqe_note" not in metrics
    for side in ("model", "bicubic"):
        assert isinstance(metrics[side]["niqe"], float) and metrics[side]["niqe"] > 0
    assert metrics["model"]["niqe"] != metrics["bicubic"]["niqe"]
    assert job.result["summary"]["model_niqe"] == metrics["model"]["niqe"]
    assert "niqe" in job.result["timings"]

    body = client.get(reverse("api_job", args=[job.id]), **_auth(user)).json()
    assert body["metrics"]["model"]["niqe"] == metrics["model"]["niqe"]
    client.force_login(user)
    result = Job.objects.get(id=job.id).image_result
    for page in (reverse("result", args=[job.id]), reverse("upload_detail",
                                                           args=[result.upload_id])):
        html = client.get(page).content.decode()
        assert "NIQE (centre 192 px crop)<br><small>lower is better</small>" in html
        assert f'data-metric="model-niqe">{metrics["model"]["niqe"]:.2f}<' in html
        assert f'data-metric="bicubic-niqe">{metrics["bicubic"]["niqe"]:.2f}<' in html
        assert 'data-field="perceptual-note"' in html


@needs_niqe
def test_a_small_output_is_measured_whole_and_a_bicubic_job_once(client, user, make_image,
                                                                  monkeypatch):
    monkeypatch.setenv("SR_NIQE_PARAMS", str(NIQE_PARAMS))
    job = _run_job(client, user, make_image(100, 100, seed=5), model="bicubic")
    assert job.status == "done", job.error
    metrics = job.result["metrics"]
    assert metrics["niqe_region"] == "" and metrics["objective"] == "psnr"
    assert metrics["model"]["niqe"] == metrics["bicubic"]["niqe"] > 0
    client.force_login(user)
    html = client.get(reverse("result", args=[job.id])).content.decode()
    assert "NIQE<br><small>lower is better</small>" in html
    assert 'data-field="perceptual-note"' not in html


def test_without_the_niqe_model_file_the_job_is_done_and_niqe_absent(
        client, user, make_image, monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("SR_NIQE_PARAMS", str(tmp_path / "missing.npz"))
    monkeypatch.setattr(niqe_check, "_logged", set())
    with caplog.at_level(logging.WARNING, logger=niqe_check.__name__):
        first = _run_job(client, user, make_image(100, 100, seed=6), model="bicubic")
        job = _run_job(client, user, make_image(100, 100, seed=6), model="bicubic")
    assert first.status == job.status == "done", job.error
    skipped = [r.getMessage() for r in caplog.records if r.name == niqe_check.__name__]
    assert len(skipped) == 1 and "missing.npz" in skipped[0]  # logged once, with the path
    metrics = job.result["metrics"]
    assert metrics["model"]["niqe"] is None and metrics["bicubic"]["niqe"] is None
    assert metrics["model"]["psnr_y"] > 0  # the other figures are unaffected
    assert "NIQE is not installed on this server" in metrics["niqe_note"]
    assert "model_niqe" not in job.result["summary"]
    body = client.get(reverse("api_job", args=[job.id]), **_auth(user)).json()
    assert body["status"] == "done" and body["metrics"]["model"]["niqe"] is None
    client.force_login(user)
    html = client.get(reverse("result", args=[job.id])).content.decode()
    assert 'data-metric="model-niqe">—<' in html and "NIQE is not installed" in html


def test_an_output_too_small_for_niqe_gets_none_and_the_job_is_done(
        client, user, make_image, monkeypatch):
    if NIQE_PARAMS is not None and NIQE_PARAMS.is_file():
        monkeypatch.setenv("SR_NIQE_PARAMS", str(NIQE_PARAMS))
    job = _run_job(client, user, make_image(60, 40, seed=7), model="bicubic")
    assert job.status == "done", job.error
    metrics = job.result["metrics"]
    assert metrics["model"]["niqe"] is None and metrics["model"]["psnr_y"] > 0
    if NIQE_PARAMS is not None and NIQE_PARAMS.is_file():
        assert "too small for a meaningful NIQE" in metrics["niqe_note"]
