"""Evaluation jobs: a catalogue model and bicubic on benchmark datasets with the engine's
protocol (PSNR/SSIM on Y, border cropped by the scale); one EvalResult per dataset."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from sr_engine.errors import ConfigError
from webapp.jobs.services import job_create
from webapp.training.models import Dataset, EvalResult

if TYPE_CHECKING:
    from webapp.jobs.models import Job
    from webapp.progress import JobProgress


def evaluation_create(*, owner: AbstractBaseUser, model_id: str, scale: int,
                      datasets: list[Dataset], queue: str | None = None) -> Job:
    from webapp.images.catalog import model_resolve
    from webapp.training.services import queue_check

    choice = model_resolve(model_id, scale)
    if not datasets:
        raise ConfigError("datasets: pick at least one dataset")
    flat = [d.name for d in datasets if not d.top_level_count]
    if flat:
        raise ConfigError(f"datasets: no images at the top level of {', '.join(flat)}")
    with transaction.atomic():
        return job_create(owner=owner, kind="evaluate", queue=queue_check(queue), params={
            "model": choice.id, "engine_name": choice.engine_name, "scale": scale,
            "datasets": [d.id for d in datasets]})


def evaluate_run(job: Job, progress: JobProgress) -> dict:
    from sr_engine.evaluate import evaluate, load_eval_set
    from sr_engine.progress import emit
    from sr_engine.zoo import resolve_device
    from webapp.images.catalog import BICUBIC
    from webapp.images.runner import cached_model
    p = job.params
    device = str(resolve_device(settings.SR_DEVICE))
    model = cached_model(p["engine_name"], p["scale"], device)
    bicubic = cached_model(BICUBIC, p["scale"], device)
    summary = {}
    # A retried job (its first worker died, or the user asked) starts with a clean table.
    EvalResult.objects.filter(job=job).delete()
    for dataset in Dataset.objects.filter(id__in=p["datasets"]):
        emit(progress, "loading", f"preparing {dataset.name} x{p['scale']}")
        data = load_eval_set(dataset.path, scale=p["scale"])
        ours = evaluate(model, data, progress=progress.labelled(dataset.name))
        base = evaluate(bicubic, data, progress=progress.labelled(f"{dataset.name} bicubic"))
        EvalResult.objects.create(job=job, model=p["model"], dataset=dataset, scale=p["scale"],
                                  psnr=ours.psnr_y, ssim=ours.ssim_y, bicubic_psnr=base.psnr_y,
                                  bicubic_ssim=base.ssim_y, n_images=ours.n_images)
        summary[f"{dataset.name}_psnr"] = ours.psnr_y
    return {"summary": summary}
