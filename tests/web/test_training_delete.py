"""Staff delete datasets and promoted models: files go with the rows (only the studio's own
files), and a dataset or model that something still needs is refused with a reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse

from webapp.images.catalog import model_catalog
from webapp.jobs.services import job_create
from webapp.training.datasets import dataset_register_folder
from webapp.training.evaluation import evaluation_create
from webapp.training.models import Dataset, EvalResult, PromotedModel
from webapp.training.services import promoted_root, training_run_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(archive_dataset):
    return archive_dataset("doomed")


@pytest.fixture
def promoted(staff_client, weights_dir: Path) -> PromotedModel:
    target = promoted_root() / "mine.safetensors"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights_dir / "espcn_x2.safetensors", target)
    return PromotedModel.objects.create(name="mine", path=str(target), arch="espcn", scale=2,
                                        created_by=staff_client.staff)


def _key_dir(dataset: Dataset) -> Path:
    return Path(settings.MEDIA_ROOT) / "datasets" / Path(dataset.thumbnails[0]).parts[1]


def _messages(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def test_delete_an_unused_uploaded_dataset_removes_its_files(staff_client, dataset):
    folder = _key_dir(dataset)
    assert Path(dataset.path).is_relative_to(folder) and any(folder.rglob("*.png"))
    EvalResult.objects.create(job=job_create(owner=staff_client.staff, kind="evaluate",
                                             params={"model": "bicubic", "datasets": []}),
                              model="bicubic", dataset=dataset, scale=2)
    response = staff_client.post(reverse("training_dataset_delete", args=[dataset.id]),
                                 follow=True)
    assert response.redirect_chain[-1][0] == reverse("training")
    assert "dataset doomed deleted" in _messages(response)
    assert not Dataset.objects.filter(id=dataset.id).exists() and not folder.exists()
    assert not EvalResult.objects.exists()


def test_a_dataset_a_run_uses_is_kept(staff_client, dataset):
    training_run_create(owner=staff_client.staff, arch="espcn", scale=2,
                        train_dataset=dataset, val_dataset=None, name="keeper",
                        overrides={"steps": 10})
    response = staff_client.post(reverse("training_dataset_delete", args=[dataset.id]),
                                 follow=True)
    assert "used by training run(s) keeper" in _messages(response)
    assert Dataset.objects.filter(id=dataset.id).exists() and Path(dataset.path).is_dir()


def test_a_dataset_in_a_queued_evaluation_is_kept(staff_client, dataset):
    evaluation_create(owner=staff_client.staff, model_id="bicubic", scale=2,
                      datasets=[dataset])
    response = staff_client.post(reverse("training_dataset_delete", args=[dataset.id]),
                                 follow=True)
    assert "queued or running evaluation" in _messages(response)
    assert Dataset.objects.filter(id=dataset.id).exists()


def test_deleting_a_folder_dataset_leaves_the_folder(staff_client, make_image, tmp_path):
    server = tmp_path / "server"
    server.mkdir()
    (server / "a.png").write_bytes(make_image(32, 32))
    with override_settings(SR_DATASET_ROOTS=[tmp_path.resolve()]):
        dataset = dataset_register_folder(owner=staff_client.staff, name="shared",
                                          folder=str(server))
    thumbs = _key_dir(dataset)
    assert thumbs.is_dir()
    staff_client.post(reverse("training_dataset_delete", args=[dataset.id]))
    assert not Dataset.objects.filter(id=dataset.id).exists()
    assert (server / "a.png").is_file() and not thumbs.exists()


def test_delete_a_promoted_model_and_its_weights(staff_client, promoted):
    assert "mine" in {c.id for c in model_catalog()}
    response = staff_client.post(reverse("training_model_delete", args=["mine"]), follow=True)
    assert "model mine deleted" in _messages(response)
    assert not PromotedModel.objects.exists() and not Path(promoted.path).exists()
    assert "mine" not in {c.id for c in model_catalog()}


@pytest.mark.parametrize("kind", ["upscale", "evaluate"])
def test_a_model_queued_jobs_use_is_kept(staff_client, promoted, kind):
    params = ({"model": promoted.path, "scale": 2} if kind == "upscale"
              else {"model": "mine", "scale": 2, "datasets": []})
    job_create(owner=staff_client.staff, kind=kind, params=params)
    response = staff_client.post(reverse("training_model_delete", args=["mine"]), follow=True)
    assert "model 'mine' is used by 1 queued or running job(s)" in _messages(response)
    assert PromotedModel.objects.exists() and Path(promoted.path).is_file()


def test_a_finished_job_does_not_hold_a_model(staff_client, promoted):
    job = job_create(owner=staff_client.staff, kind="upscale",
                     params={"model": promoted.path, "scale": 2})
    job.status = "done"
    job.save(update_fields=["status"])
    staff_client.post(reverse("training_model_delete", args=["mine"]))
    assert not PromotedModel.objects.exists() and not Path(promoted.path).exists()


def test_only_staff_delete_and_only_by_post(user, staff_client, dataset, promoted):
    urls = [reverse("training_dataset_delete", args=[dataset.id]),
            reverse("training_model_delete", args=["mine"])]
    for url in urls:
        assert staff_client.get(url).status_code == 405
    other = Client()  # staff_client is pytest-django's `client`: a second one for the user
    other.force_login(user)
    for url in urls:
        assert other.post(url).status_code == 403
    assert Dataset.objects.exists() and PromotedModel.objects.exists()
    assert staff_client.post(reverse("training_model_delete", args=["nope"])).status_code == 404


def test_a_name_promoted_again_after_a_delete_loads_the_new_weights(staff_client, promoted):
    """The worker caches loaded models by path; a deleted and re-promoted name reuses the
    path, so the cache must notice the new file (it served the old weights before)."""
    import torch

    from sr_engine.checkpoint import CheckpointMeta, save_checkpoint
    from sr_engine.registry import create_model, get_spec
    from webapp.images.runner import cached_model

    old = cached_model(promoted.path, 2, "cpu")
    staff_client.post(reverse("training_model_delete", args=["mine"]))
    torch.manual_seed(123)
    spec = get_spec("espcn")
    save_checkpoint(Path(promoted.path), create_model("espcn", scale=2),
                    CheckpointMeta(arch="espcn", scale=2, hparams=spec.resolve_hparams(),
                                   color=spec.color, name="mine-again"))
    new = cached_model(promoted.path, 2, "cpu")
    old_w, new_w = (next(m.module.parameters()) for m in (old, new))
    assert not torch.equal(old_w, new_w)
    assert cached_model(promoted.path, 2, "cpu") is new  # and it is still a cache
