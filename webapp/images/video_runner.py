"""A video upscale, run inside a Celery worker for `images.runner.upscale_run`: the clip through
`sr_engine.video.upscale.upscale_video` (the function the CLI uses), with the job's progress
and a preview frame on the way, then a poster frame for the pages.

Finished segments are kept in the job's folder (`parts/`): a worker killed mid-clip leaves
them, and the rerun the reliability rules make (jobs.recovery) resumes after the last one.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from sr_engine.progress import emit
from sr_engine.video.upscale import upscale_video
from sr_engine.zoo import resolve_device
from webapp.images.frames import FRAME, PARTS, save_frame
from webapp.images.model_cache import cached_model
from webapp.images.models import Result
from webapp.images.services import output_suffix
from webapp.images.video_progress import FrameProgress
from webapp.images.videos import configs_of

if TYPE_CHECKING:
    from webapp.progress import JobProgress

STAGING = "staging"


def video_produce(result: Result, params: dict, folder: Path, progress: JobProgress) -> dict:
    """Write the upscaled clip (and its poster) into `folder`; return the job's result."""
    config, video = configs_of(params)
    device = str(resolve_device(config.device))
    src = Path(result.upload.original.path)
    emit(progress, "loading", f"loading model {result.model}")
    start = time.perf_counter()
    model = cached_model(config.model, config.scale, device)
    loaded = time.perf_counter() - start
    frames = FrameProgress(progress, parts=folder / PARTS, preview=folder / FRAME,
                           every=settings.SR_VIDEO_PREVIEW_SECONDS,
                           rotation=result.upload.video.get("rotation", 0))
    output = folder / f"output.{output_suffix(result)}"
    # The engine joins its segments into a temp file beside its destination, renamed when
    # complete; a run killed while joining leaves it, so each run writes into a fresh
    # staging folder.
    staging = folder / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    done = upscale_video(src, staging / output.name, config, video, progress=frames,
                         model=model, parts=folder / PARTS)
    os.replace(staging / output.name, output)
    staging.rmdir()
    emit(progress, "saving", "making the poster frame")
    poster = save_frame(output, folder / FRAME)
    media = Path(settings.MEDIA_ROOT)
    Result.objects.filter(job=result.job).update(
        output=str(output.relative_to(media)),
        preview=str((folder / FRAME).relative_to(media)) if poster else "")
    worked = done.frames - done.resumed  # the frames this run upscaled
    info = done.input
    return {"media": "video",
            "output": {"width": done.output_size[0], "height": done.output_size[1],
                       "format": output.suffix[1:], "codec": video.codec if video else "",
                       "frames": done.frames},
            "input": {"width": info.width, "height": info.height, "frames": info.frames,
                      "fps": info.fps, "duration_s": info.duration_s},
            "frames": done.frames, "resumed": done.resumed,
            "fps": worked / done.seconds if done.seconds > 0 else None,
            "seconds": done.seconds, "device": device, "precision": done.precision,
            "timings": {"load": round(loaded, 4), "engine": round(done.seconds, 4),
                        "progress": round(progress.seconds, 4),
                        "preview": round(frames.seconds, 4)},
            "metrics": {}, "summary": {}}
