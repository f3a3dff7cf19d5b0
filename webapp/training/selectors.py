"""Reads for the training studio (staff only: callers check `is_staff`)."""

from __future__ import annotations

import uuid
from collections import defaultdict

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from webapp.jobs.models import Job
from webapp.jobs.runners import json_float
from webapp.jobs.selectors import job_payload
from webapp.training.models import Dataset, EvalResult, MetricPoint, PromotedModel, TrainingRun
from webapp.training.services import run_checkpoints, training_run_can_resume


def run_get(run_id: uuid.UUID | str) -> TrainingRun | None:
    try:
        return TrainingRun.objects.select_related("job", "train_dataset",
                                                  "val_dataset").get(id=run_id)
    except (TrainingRun.DoesNotExist, ValidationError, ValueError):
        return None


def run_list() -> QuerySet[TrainingRun]:
    return TrainingRun.objects.select_related("job", "train_dataset", "val_dataset")


def dataset_get(dataset_id: int | str) -> Dataset | None:
    try:
        return Dataset.objects.get(id=dataset_id)
    except (Dataset.DoesNotExist, ValidationError, ValueError):
        return None


def run_history(run: TrainingRun) -> dict[str, list[dict]]:
    """Every stored point: {"train": [{"step", "eta_s", loss, lr, it/s...}], "val": [...]}."""
    out: dict[str, list[dict]] = {"train": [], "val": []}
    for kind, step, values, eta in MetricPoint.objects.filter(run=run).values_list(
            "kind", "step", "values", "eta_s"):
        out[kind].append({"step": step, "eta_s": eta, **values})
    return out


def _latest(run: TrainingRun, kind: str) -> dict:
    point = MetricPoint.objects.filter(run=run, kind=kind).order_by("-step", "-id").first()
    return {"step": point.step, **point.values} if point else {}


def run_payload(run: TrainingRun) -> dict:
    """The API's (and the polling page's) view of a run."""
    checkpoints = run_checkpoints(run)
    return {
        "id": str(run.id), "name": run.name, "status": run.job.status,
        "job": job_payload(run.job), "step": run.step, "total_steps": run.total_steps,
        "attempts": run.attempts, "arch": run.config["model"]["arch"],
        "scale": run.config["model"]["scale"], "recipe": run.recipe or None,
        "train_dataset": run.train_dataset.name,
        "val_dataset": run.val_dataset.name if run.val_dataset else None,
        "latest": {"train": _latest(run, "train"), "val": _latest(run, "val")},
        "best_metrics": run.best_metrics,
        "checkpoints": {k: (p.name if p else None) for k, p in checkpoints.items()},
        "can_resume": training_run_can_resume(run),
        "sample_step": run.sample_step,
        "promoted": list(run.promotions.values_list("name", flat=True)),
        "config": run.config, "created_at": run.created_at.isoformat(),
    }


def dataset_payload(dataset: Dataset) -> dict:
    return {"id": dataset.id, "name": dataset.name, "source": dataset.source,
            "images": dataset.image_count, "top_level_images": dataset.top_level_count,
            "bytes": dataset.total_bytes, "sizes": dataset.stats,
            "created_at": dataset.created_at.isoformat()}


def promoted_list() -> QuerySet[PromotedModel]:
    return PromotedModel.objects.all()


def eval_table() -> list[dict]:
    """The newest result per model x dataset x scale, grouped by model."""
    seen, rows = set(), defaultdict(list)
    for r in EvalResult.objects.select_related("dataset").order_by("-created_at"):
        key = (r.model, r.dataset_id, r.scale)
        if key in seen:
            continue
        seen.add(key)
        rows[r.model].append(r)
    return [{"model": m, "rows": sorted(rs, key=lambda r: (r.dataset.name, r.scale))}
            for m, rs in sorted(rows.items())]


def evaluation_get(job_id: uuid.UUID | str) -> Job | None:
    try:
        return Job.objects.get(id=job_id, kind="evaluate")
    except (Job.DoesNotExist, ValidationError, ValueError):
        return None


def evaluation_payload(job: Job) -> dict:
    """The API's view of an evaluation job: what it measures and, once done, one row per
    dataset (model and bicubic side by side)."""
    names = dict(Dataset.objects.filter(id__in=job.params["datasets"])
                 .values_list("id", "name"))
    results = [{"dataset": r.dataset.name, "scale": r.scale, "images": r.n_images,
                "psnr": json_float(r.psnr), "ssim": json_float(r.ssim),
                "bicubic_psnr": json_float(r.bicubic_psnr),
                "bicubic_ssim": json_float(r.bicubic_ssim)}
               for r in job.eval_results.select_related("dataset").order_by("dataset__name")]
    return {"id": str(job.id), "status": job.status, "model": job.params["model"],
            "scale": job.params["scale"],
            "datasets": [names[i] for i in job.params["datasets"] if i in names],
            "progress": job.progress, "error": job.error or None, "results": results,
            "created_at": job.created_at.isoformat()}
