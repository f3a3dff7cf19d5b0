"""Training run services: create (config built and checked in the request), cancel,
resume, record progress, promote a checkpoint to a named model."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from sr_engine.errors import ConfigError
from sr_engine.paths import atomic_copy
from webapp.jobs.models import JobStatus
from webapp.jobs.services import job_cancel, job_create
from webapp.training.models import Dataset, PromotedModel, TrainingRun
from webapp.training.recipes import build_train_config

STATE_FILE = "train_state.safetensors"
RESUMABLE = (JobStatus.CANCELLED, JobStatus.FAILED)
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,63}$")


def runs_root() -> Path:
    return Path(settings.MEDIA_ROOT) / "training" / "runs"


def promoted_root() -> Path:
    return Path(settings.MEDIA_ROOT) / "models"


def queue_check(queue: str | None) -> str:
    queues = settings.SR_TRAIN_QUEUES
    if not queue:
        return queues[0]
    if queue not in queues:
        raise ConfigError(f"queue: {queue!r} is not one of {', '.join(queues)}")
    return queue


def training_run_create(*, owner: AbstractBaseUser, arch: str, scale: int,
                        train_dataset: Dataset, val_dataset: Dataset | None,
                        recipe: str = "", overrides: dict[str, Any] | None = None,
                        queue: str | None = None, name: str = "") -> TrainingRun:
    """Check the whole config now (ConfigError), then queue a `train` job for it."""
    if val_dataset is not None and not val_dataset.top_level_count:
        raise ConfigError(f"val_dataset: {val_dataset.name} has no images at its top level")
    run_id = uuid.uuid4()
    name = name.strip() or f"{arch}_x{scale}-{run_id.hex[:6]}"
    out_dir = runs_root() / str(run_id)
    config = build_train_config(
        arch=arch, scale=scale, recipe=recipe, train_dir=train_dataset.path,
        val_dir=val_dataset.path if val_dataset else None, overrides=overrides or {},
        out_dir=str(out_dir), device=settings.SR_DEVICE, name=name)
    queue = queue_check(queue)
    with transaction.atomic():
        job = job_create(owner=owner, kind="train", queue=queue,
                         params={"config": config.to_dict(), "resume": False, "queue": queue})
        return TrainingRun.objects.create(
            id=run_id, name=name, owner=owner, job=job, train_dataset=train_dataset,
            val_dataset=val_dataset, recipe=recipe, config=config.to_dict(),
            out_dir=str(out_dir))


def training_run_cancel(*, run: TrainingRun) -> TrainingRun:
    """Stop the current attempt; the loop saves a resumable state at the last step."""
    job_cancel(job=run.job)
    run.refresh_from_db()
    return run


def training_run_can_resume(run: TrainingRun) -> bool:
    return run.job.status in RESUMABLE and (Path(run.out_dir) / STATE_FILE).is_file()


def training_run_resume(*, run: TrainingRun, user: AbstractBaseUser) -> TrainingRun:
    """A new job continuing the run from its last saved state (after a cancel, or a worker
    that died; then from the last periodic checkpoint)."""
    if run.job.status not in RESUMABLE:
        raise ConfigError(f"the run is {run.job.status}; only a cancelled or failed run "
                          "can be resumed")
    if not (Path(run.out_dir) / STATE_FILE).is_file():
        raise ConfigError("the run has no saved state yet (it stopped before its first "
                          "checkpoint); start a new run")
    queue = run.job.params.get("queue") or None
    with transaction.atomic():
        job = job_create(owner=user, kind="train", queue=queue,
                         params={"config": run.config, "resume": True, "queue": queue})
        TrainingRun.objects.filter(id=run.id).update(job=job, attempts=run.attempts + 1)
    run.refresh_from_db()
    return run


def run_checkpoints(run: TrainingRun) -> dict[str, Path | None]:
    """The run's best-validation checkpoint and newest step checkpoint, as on disk (the
    engine keeps best plus the last `keep_last` step files)."""
    out = Path(run.out_dir)
    best = out / "best.safetensors"
    steps = sorted(out.glob("step_*.safetensors"))
    return {"best": best if best.is_file() else None, "last": steps[-1] if steps else None}


def model_promote(*, run: TrainingRun, name: str, user: AbstractBaseUser,
                  which: str = "best") -> PromotedModel:
    """Copy the run's best (or last) checkpoint to the promoted-models folder under `name`;
    the upload page and /api/v1/models list it from then on."""
    from sr_engine.checkpoint import read_meta
    from webapp.images.catalog import model_catalog

    if not NAME_RE.match(name or ""):
        raise ConfigError("name: 2-64 characters of a-z, 0-9, _ and -, starting with a "
                          "letter or digit")
    if any(choice.id == name for choice in model_catalog()):
        raise ConfigError(f"name: a model called {name!r} already exists")
    if which not in ("best", "last"):
        raise ConfigError("which: 'best' or 'last'")
    source = run_checkpoints(run)[which]
    if source is None:
        raise ConfigError(f"the run has no {which} checkpoint (yet)")
    meta = read_meta(source)
    target = promoted_root() / f"{name}.safetensors"
    atomic_copy(source, target)  # a worker never sees half a checkpoint
    try:
        return PromotedModel.objects.create(
            name=name, run=run, path=str(target), arch=meta.arch, scale=meta.scale,
            step=meta.step, metrics=dict(meta.metrics), recipe=dict(meta.recipe or {}),
            created_by=user)
    except BaseException:
        target.unlink(missing_ok=True)
        raise

