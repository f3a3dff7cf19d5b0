"""The `upscale` job kind, run inside a Celery worker: model output, bicubic baseline,
PSNR/SSIM (against the reference, else the engine's self-check) and NIQE of both outputs
(no reference needed) for one Result."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from sr_engine.errors import ImageError
from sr_engine.inference import UpscaleConfig, upscale_file
from sr_engine.inference.memory import release_freed_memory
from sr_engine.progress import emit
from webapp.images.catalog import BICUBIC, model_objective
from webapp.images.model_cache import cached_model
from webapp.images.models import Result
from webapp.images.niqe_check import outputs_niqe
from webapp.images.services import output_suffix, result_folder
from webapp.images.video_runner import video_produce
from webapp.jobs.runners import json_float

if TYPE_CHECKING:
    from sr_engine.zoo import LoadedModel
    from webapp.jobs.models import Job
    from webapp.progress import JobProgress

BROWSER_SUFFIXES = {"png", "jpg", "jpeg", "webp", "bmp"}

def _floats(metrics: dict) -> dict[str, float | None]:
    """Engine metric dicts as JSON-safe floats (non-numbers dropped, NaN/inf as None)."""
    out: dict[str, float | None] = {}
    for key, value in metrics.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = json_float(value)
    return out


def _metrics(result: Result, model: LoadedModel, bicubic: LoadedModel,
             output: Path, baseline: Path, precision: str) -> dict:
    from sr_engine.data.io import load_image
    from sr_engine.evaluate import compare, self_check

    scale = result.scale
    # A bicubic job is its own baseline: its figures are measured once and shown twice.
    same = model is bicubic
    if result.upload.reference:
        ref = load_image(Path(result.upload.reference.path))
        ours = _floats(compare(load_image(output), ref, crop=scale))
        return {"mode": "reference", "model": ours,
                "bicubic": ours if same else _floats(compare(load_image(baseline), ref,
                                                             crop=scale))}
    picture = load_image(Path(result.upload.original.path))
    # A bounded centre crop: the check costs the same for any upload size (and the page says
    # so); the job's output was already made from the whole image.
    crop = settings.SR_SELF_CHECK_CROP or None
    region = "" if crop is None or max(picture.size) <= crop else f"the central {crop}x{crop}"
    try:
        ours = _floats(self_check(model, picture, scale=scale, crop=crop, precision=precision))
        return {"mode": "self-check", "region": region, "model": ours,
                "bicubic": ours if same else _floats(self_check(bicubic, picture, scale=scale,
                                                                crop=crop))}
    except ImageError as exc:  # e.g. too small to downscale: the output is still good
        return {"mode": "self-check", "model": {}, "bicubic": {}, "unavailable": str(exc)}


def _add_niqe(metrics: dict, model: LoadedModel, output: Path, baseline: Path,
              scale: int) -> None:
    """NIQE of the output (and of the bicubic baseline, for comparison) into `metrics`'
    model/bicubic figures, with `niqe_region` and, where absent, `niqe_note`; also the
    model's `objective`. Never raises for a missing NIQE model or a small output."""
    meta = model.meta
    metrics["objective"] = model_objective(
        model.spec.id, feature_network=meta.feature_network if meta else None,
        recipe=meta.recipe if meta else None)
    check = outputs_niqe([output] if baseline == output else [output, baseline], scale=scale)
    values = check.values if len(check.values) == 2 else check.values * 2
    for side, value in zip(("model", "bicubic"), values, strict=True):
        metrics[side] = {**metrics[side], "niqe": json_float(value)}
    metrics["niqe_region"] = check.region
    if check.note:
        metrics["niqe_note"] = check.note


def upscale_run(job: Job, progress: JobProgress) -> dict:
    """Write output, bicubic baseline (and a preview) for the job's Result; return metrics.
    A video goes to `video_produce`. On any failure or cancel the job's folder is removed: no
    half-made results stay behind. (A worker killed outright removes nothing: the rerun of a
    video resumes from the finished segments kept there.)"""
    result = Result.objects.select_related("upload", "job").get(job=job)
    folder = result_folder(owner_id=job.owner_id, job_id=job.id)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if result.upload.is_video:
            return video_produce(result, job.params, folder, progress)
        return _produce(result, UpscaleConfig.from_dict(job.params), folder, progress)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        release_freed_memory()  # the worker keeps no job's freed tensors until the next


def _produce(result: Result, config: UpscaleConfig, folder: Path,
             progress: JobProgress) -> dict:
    from sr_engine.data.io import load_image, save_image
    from sr_engine.zoo import resolve_device

    clock = _Clock(progress)
    device = str(resolve_device(config.device))
    src = Path(result.upload.original.path)
    emit(progress, "loading", f"loading model {result.model}")
    with clock("load"):
        model = cached_model(config.model, config.scale, device)
        bicubic = cached_model(BICUBIC, config.scale, device)
    output = folder / f"output.{output_suffix(result)}"
    with clock("model"):
        done = upscale_file(src, output, config, progress=progress, model=model)
    if config.model == BICUBIC:
        baseline = output
    else:
        baseline = folder / "bicubic.png"
        base_config = UpscaleConfig(model=BICUBIC, scale=config.scale, tile=config.tile,
                                    device=config.device, format="png")
        with clock("baseline"):
            upscale_file(src, baseline, base_config,
                         progress=progress.labelled("bicubic baseline"), model=bicubic)
    media = Path(settings.MEDIA_ROOT)
    preview = ""
    if output.suffix[1:].lower() not in BROWSER_SUFFIXES:
        emit(progress, "encoding", "making a browser preview")
        with clock("preview"):
            save_image(folder / "preview.png", load_image(output), format="png")
        preview = str((folder / "preview.png").relative_to(media))

    emit(progress, "validating", "computing PSNR/SSIM")
    with clock("check"):
        metrics = _metrics(result, model, bicubic, output, baseline, done.precision)
    emit(progress, "validating", "computing NIQE")
    with clock("niqe"):
        _add_niqe(metrics, model, output, baseline, config.scale)
    Result.objects.filter(job=result.job).update(
        output=str(output.relative_to(media)), bicubic=str(baseline.relative_to(media)),
        preview=preview)
    summary = {f"{side}_{k}": v for side in ("model", "bicubic")
               for k, v in metrics[side].items()
               if k in ("psnr_y", "ssim_y", "niqe") and v is not None}
    return {"output": {"width": done.output_size[0], "height": done.output_size[1],
                       "format": output.suffix[1:]},
            "input": {"width": done.input_size[0], "height": done.input_size[1]},
            "seconds": done.seconds, "device": done.device, "tiles": done.tiles,
            "precision": done.precision, "timings": clock.timings(),
            "metrics": metrics, "summary": summary}


class _Clock:
    """Seconds per part of an upscale job, and `engine`: their sum less the time the job's
    progress callback spent inside them storing and broadcasting events (web work the engine
    waits for), so "job time minus engine time" is the web's whole per-job overhead
    (measured by webapp.bench_web)."""

    def __init__(self, progress: JobProgress) -> None:
        self.progress = progress
        self.parts: dict[str, float] = {}
        self.web = 0.0

    @contextmanager
    def __call__(self, part: str) -> Iterator[None]:
        start, web = time.perf_counter(), self.progress.seconds
        try:
            yield
        finally:
            self.parts[part] = self.parts.get(part, 0.0) + time.perf_counter() - start
            self.web += self.progress.seconds - web

    def timings(self) -> dict[str, float]:
        engine = max(0.0, sum(self.parts.values()) - self.web)
        return {**{k: round(v, 4) for k, v in self.parts.items()},
                "progress": round(self.progress.seconds, 4), "engine": round(engine, 4)}
