"""The `train` job kind, run inside a Celery worker: `sr_engine.train.train` with a progress
callback that also writes the metric history of the run to the database."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from sr_engine.progress import ProgressEvent
from webapp.jobs.runners import json_float
from webapp.progress import JobProgress
from webapp.training.models import MetricPoint, TrainingRun
from webapp.training.services import STATE_FILE

if TYPE_CHECKING:
    from webapp.jobs.models import Job


def _clean(metrics: dict) -> dict[str, float | None]:
    return {k: json_float(v) for k, v in metrics.items()}


class TrainProgress(JobProgress):
    """JobProgress plus history: every training log line (at most one per
    `history_interval` seconds, and always the last step) and every validation result
    becomes a MetricPoint, and is stored and broadcast at once, so the live chart gets every
    point; other events (the engine's metric-free heartbeats) go through the throttle."""

    def __init__(self, job_id: object, run_id: object, *, history_interval: float = 0.2) -> None:
        super().__init__(job_id)
        self.run_id = run_id
        self.history_interval = history_interval
        self._last_point = 0.0

    def __call__(self, event: ProgressEvent) -> None:
        point = self._kind(event)
        if point is None:
            super().__call__(event)
            return
        self._point(point, event)
        self._raise_if_cancelled()
        self.store_now(event)

    def _kind(self, event: ProgressEvent) -> str | None:
        """The kind of MetricPoint `event` makes, if any (a train point restarts the interval)."""
        if event.stage == "validating" and "psnr" in event.metrics:
            return MetricPoint.Kind.VAL
        if event.stage != "training" or not event.metrics:
            return None
        now = time.monotonic()
        last = event.total and event.current >= event.total
        if not (last or now - self._last_point >= self.history_interval):
            return None
        self._last_point = now
        return MetricPoint.Kind.TRAIN

    def _point(self, kind: str, event: ProgressEvent) -> None:
        MetricPoint.objects.create(run_id=self.run_id, kind=kind, step=event.current,
                                   values=_clean(dict(event.metrics)), eta_s=event.eta_s,
                                   ts=event.ts)
        TrainingRun.objects.filter(id=self.run_id).update(step=event.current)


def _state_step(out_dir: Path) -> int:
    """The step a saved training state resumes from (read from its JSON header)."""
    from sr_engine.train.state import load_state

    return int(load_state(out_dir / STATE_FILE)["step"])


def train_run(job: Job, progress: JobProgress) -> dict:
    """Train (or resume) the run whose current job is `job`; returns the TrainResult."""
    from sr_engine.train import TrainConfig, train
    from webapp.training.samples import SampleWriter

    run = TrainingRun.objects.get(job=job)
    config = TrainConfig.from_dict(job.params["config"])
    out_dir = Path(run.out_dir)
    resume = None
    # A second try after the first worker died continues from its last saved state.
    retried = job.attempts > 1 and (out_dir / STATE_FILE).is_file()
    if job.params.get("resume") or retried:
        resume = out_dir
        # A worker lost after its last checkpoint logged steps the resumed run will redo.
        step = _state_step(out_dir)
        MetricPoint.objects.filter(run=run, step__gt=step).delete()
        TrainingRun.objects.filter(id=run.id).update(step=step)
    samples = SampleWriter(run, config)
    with TrainProgress(job.id, run.id) as progress:
        result = train(config, progress=progress, resume=resume, on_validate=samples)
    TrainingRun.objects.filter(id=run.id).update(step=result.steps,
                                                 best_metrics=_clean(result.best_metrics))
    return {"steps": result.steps, "seconds": result.seconds,
            "best_checkpoint": str(result.best_checkpoint or ""),
            "last_checkpoint": str(result.last_checkpoint or ""),
            "summary": _clean(result.best_metrics)}
