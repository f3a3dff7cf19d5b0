"""Deleting datasets and promoted models: refused while something still needs them, and
their files go with the row (only files the studio made: a registered server folder is
never touched)."""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from sr_engine.errors import ConfigError
from webapp.jobs.models import ACTIVE, Job
from webapp.training.models import Dataset, PromotedModel, TrainingRun
from webapp.training.services import promoted_root


def _active_jobs(kind: str) -> list[Job]:
    # Few at any time (queued or running), so the JSON params are read in Python rather
    # than with database-specific JSON lookups.
    return list(Job.objects.filter(kind=kind, status__in=ACTIVE))


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve()) and path.resolve() != root.resolve()


def _dataset_dirs(dataset: Dataset) -> set[Path]:
    """`<media>/datasets/<key>/` folders of the dataset: extracted images (uploads) and
    thumbnails (both sources)."""
    root = Path(settings.MEDIA_ROOT) / "datasets"
    media = Path(settings.MEDIA_ROOT)
    candidates = [media / t for t in dataset.thumbnails]
    if dataset.source == Dataset.Source.UPLOAD:
        candidates.append(Path(dataset.path))
    dirs = set()
    for path in candidates:
        if _inside(path, root):
            dirs.add(root / path.resolve().relative_to(root.resolve()).parts[0])
    return dirs


def dataset_delete(*, dataset: Dataset) -> None:
    """Delete a dataset no training run uses and no queued evaluation needs; its results in
    the evaluation table go with it. ConfigError names what still uses it."""
    with transaction.atomic():
        runs = list(TrainingRun.objects.filter(Q(train_dataset=dataset) | Q(val_dataset=dataset))
                    .values_list("name", flat=True))
        if runs:
            raise ConfigError(f"dataset {dataset.name!r} is used by training run(s) "
                              f"{', '.join(sorted(runs))}; it stays while they exist")
        if any(dataset.id in job.params.get("datasets", []) for job in _active_jobs("evaluate")):
            raise ConfigError(f"dataset {dataset.name!r} is in a queued or running evaluation; "
                              "delete it when that job has finished")
        dirs = _dataset_dirs(dataset)
        dataset.delete()
    for folder in dirs:
        shutil.rmtree(folder, ignore_errors=True)


def _uses(job: Job, model: PromotedModel) -> bool:
    params = job.params
    if job.kind == "upscale":
        return params.get("model") == model.path
    if job.kind == "evaluate":
        return params.get("model") == model.name
    return (params.get("config", {}).get("model", {}).get("init") or "") == model.path


def promoted_model_delete(*, model: PromotedModel) -> None:
    """Delete a promoted model and its weights file; refused while a queued or running job
    (upscale, evaluation, or training initialised from it) uses it. Finished results keep
    their images and the model's name."""
    with transaction.atomic():
        busy = [job for kind in ("upscale", "evaluate", "train")
                for job in _active_jobs(kind) if _uses(job, model)]
        if busy:
            raise ConfigError(f"model {model.name!r} is used by {len(busy)} queued or running "
                              "job(s); delete it when they have finished or been cancelled")
        path = Path(model.path)
        model.delete()
    if path.is_file() and _inside(path, promoted_root()):
        path.unlink()
