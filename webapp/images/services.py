"""Writes for uploads and results: store and check files, create upscale jobs."""

from __future__ import annotations

import hashlib
import math
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import QuerySet

from sr_engine.errors import ConfigError
from sr_engine.video import is_video
from webapp.images import videos
from webapp.images.catalog import model_resolve
from webapp.images.frames import save_frame
from webapp.images.models import Media, Result, Upload
from webapp.images.validation import CheckedImage, ImageRejected, image_check, thumbnail_save
from webapp.jobs.broker import queue_check
from webapp.jobs.models import ACTIVE, Job
from webapp.jobs.services import job_create
from webapp.limits import user_jobs_check, user_storage_check

OUTPUT_FORMATS = {"": "same as the input", "png": "PNG", "jpeg": "JPEG", "webp": "WebP",
                  "tiff": "TIFF"}
_SUFFIX = {"jpeg": "jpg", "tiff": "tif"}
# UpscaleConfig.color_fix (sr_engine.inference.colorfix), in the words the form shows.
COLOR_FIXES = {"auto": "automatic (only models that drift in colour ask for it)",
               "hist": "match the input's colour histogram",
               "meanstd": "match the input's average colour and contrast (faster)",
               "none": "off"}


def color_fix_check(value: str) -> str:
    """`value` as an UpscaleConfig.color_fix ("" = "auto"); ConfigError naming the choices.
    Checked before anything is stored, so a bad value leaves no upload behind."""
    value = value or "auto"
    if value not in COLOR_FIXES:
        raise ConfigError(f"color_fix: expected one of {', '.join(COLOR_FIXES)}, got {value!r}")
    return value


def _media(*parts: str) -> Path:
    return Path(settings.MEDIA_ROOT).joinpath(*parts)


def _receive(file: UploadedFile, dst_dir: Path, limit: int, what: str = "") -> tuple[Path, str]:
    """Stream an upload into a temp file beside its final place; returns (path, sha256)."""
    if file.size is not None and file.size > limit:
        raise ImageRejected(f"{file.size:,} bytes is over the {limit:,} byte limit{what}")
    dst_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=dst_dir, suffix=".part", delete=False) as out:
        for chunk in file.chunks():
            digest.update(chunk)
            out.write(chunk)
    return Path(out.name), digest.hexdigest()


def _store(file: UploadedFile, dst_dir: Path, stem: str) -> tuple[Path, str, CheckedImage]:
    tmp, sha = _receive(file, dst_dir, settings.SR_MAX_UPLOAD_BYTES)
    try:
        checked = image_check(tmp, max_pixels=settings.SR_MAX_PIXELS,
                              display_name=file.name or "the image")
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    final = dst_dir / f"{stem}.{checked.suffix}"
    tmp.replace(final)
    return final, sha, checked


def _store_video(file: UploadedFile, dst_dir: Path) -> tuple[Path, str, videos.CheckedVideo]:
    tmp, sha = _receive(file, dst_dir, settings.SR_MAX_VIDEO_BYTES, " for videos")
    try:
        checked = videos.video_check(tmp, display_name=file.name or "video.mp4")
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    final = dst_dir / f"original.{checked.suffix}"
    tmp.replace(final)
    return final, sha, checked


def result_folder(*, owner_id: int, job_id: object) -> Path:
    """Where a result's files are written (by the worker) and read from."""
    return _media(f"u{owner_id}", "results", str(job_id))


def _relative(path: Path) -> str:
    return str(path.relative_to(Path(settings.MEDIA_ROOT)))


def upload_create(*, owner: AbstractBaseUser, file: UploadedFile,
                  reference: UploadedFile | None = None, scales: tuple[int, ...] = ()) -> Upload:
    """Check and store one image (and its reference) or one video (by its extension).
    ImageRejected (VideoRejected for a clip) says what is wrong."""
    upload_id = uuid.uuid4()
    folder = _media(f"u{owner.pk}", "uploads", str(upload_id))
    if is_video(file.name or ""):
        if reference is not None:
            raise videos.VideoRejected("a reference image only works with an image upload")
        return _video_upload_create(owner=owner, file=file, upload_id=upload_id, folder=folder)
    try:
        path, sha, checked = _store(file, folder, "original")
        thumb = folder / "thumb.png"
        thumbnail_save(checked.picture, thumb)
        ref_rel = ""
        if reference is not None:
            try:
                ref_path, _, ref = _store(reference, folder, "reference")
            except ImageRejected as exc:
                raise ImageRejected(f"reference {reference.name}: {exc}") from None
            for s in scales:
                if (ref.width, ref.height) != (checked.width * s, checked.height * s):
                    raise ImageRejected(
                        f"the reference is {ref.width}x{ref.height}; at x{s} it must be "
                        f"{checked.width * s}x{checked.height * s}")
            ref_rel = _relative(ref_path)
        return Upload.objects.create(
            id=upload_id, owner=owner, name=Path(file.name or "image").name[:255],
            original=_relative(path), thumbnail=_relative(thumb), reference=ref_rel, sha256=sha,
            width=checked.width, height=checked.height, format=checked.format,
            notes=checked.notes)
    except Exception:  # a rejected file or a failed insert leaves no orphan files behind
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _video_upload_create(*, owner: AbstractBaseUser, file: UploadedFile, upload_id: uuid.UUID,
                         folder: Path) -> Upload:
    try:
        path, sha, checked = _store_video(file, folder)
        thumb = folder / "thumb.jpg"
        return Upload.objects.create(
            id=upload_id, owner=owner, name=Path(file.name or "video").name[:255],
            original=_relative(path), sha256=sha, width=checked.width, height=checked.height,
            thumbnail=_relative(thumb) if save_frame(path, thumb, size=320) else "",
            format=checked.format, notes=checked.notes, media=Media.VIDEO, video=checked.info)
    except Exception:  # as for images: no orphan files
        shutil.rmtree(folder, ignore_errors=True)
        raise


def output_budget_check(*, width: int, height: int, scale: int) -> None:
    """ConfigError when an upscale's output is over SR_MAX_OUTPUT_PIXELS: the worker holds
    the output (and the metrics read it back) in memory, so a huge one is refused here."""
    limit = settings.SR_MAX_OUTPUT_PIXELS
    pixels = width * height * scale * scale
    if pixels > limit:
        side = math.isqrt(limit // (scale * scale))
        raise ConfigError(f"x{scale} of a {width}x{height} image makes {pixels:,} output "
                          f"pixels; the limit is {limit:,}: at x{scale} the largest input is "
                          f"{limit // (scale * scale):,} pixels (e.g. {side}x{side})")


def result_create(*, upload: Upload, model_id: str, scale: int, output_format: str = "",
                  device: str | None = None, checked: bool = False, codec: str = "",
                  crf: int | None = None, color_fix: str = "auto") -> Result:
    """Queue one upscale of `upload`; ConfigError for a bad model, scale, format, colour fix
    or size (for a video: a bad codec or CRF, or frames too large once upscaled).
    `checked`: submission_check already counted this job (see jobs.services.job_create)."""
    # Imported here: the engine pulls in torch, which pages that create no job never need.
    from sr_engine.inference import UpscaleConfig

    choice = model_resolve(model_id, scale)
    if upload.is_video:
        if output_format:
            raise ConfigError("format: applies to images; a video keeps its container (pick "
                              "a codec instead)")
        videos.video_output_check(width=upload.width, height=upload.height, scale=scale)
    else:
        output_budget_check(width=upload.width, height=upload.height, scale=scale)
    config = UpscaleConfig(model=choice.engine_name, scale=scale, tile=settings.SR_TILE,
                           device=device or settings.SR_DEVICE,
                           format=output_format or None,
                           color_fix=color_fix_check(color_fix))
    params = config.to_dict()
    if upload.is_video:
        params = videos.video_params(config, videos.video_config(
            original_name=upload.original.name, codec=codec, crf=crf))
    job = job_create(owner=upload.owner, kind="upscale", params=params, checked=checked)
    return Result.objects.create(job=job, upload=upload, model=choice.id, scale=scale)


def submission_check(*, owner: AbstractBaseUser, files: list[UploadedFile], jobs: int) -> None:
    """Before anything is stored: the queue is up (QueueUnavailable) and the user has room
    for these jobs and bytes (LimitExceeded)."""
    queue_check()
    user_jobs_check(owner, adding=jobs)
    user_storage_check(owner, adding=sum(f.size or 0 for f in files))


def upload_queue(*, owner: AbstractBaseUser, file: UploadedFile, model_ids: list[str],
                 scale: int, output_format: str = "", reference: UploadedFile | None = None,
                 codec: str = "", crf: int | None = None,
                 color_fix: str = "auto") -> tuple[Upload, list[Result]]:
    """Store one image and queue one upscale per model, all or nothing: a refusal after
    the image was stored (bad model, output too large) removes its files again. Call it
    after `submission_check` of the whole submission, which makes the queue and job-limit
    checks for every job it queues."""
    with transaction.atomic():
        upload = upload_create(owner=owner, file=file, reference=reference, scales=(scale,))
        try:
            results = [result_create(upload=upload, model_id=m, scale=scale,
                                     output_format=output_format, checked=True,
                                     codec=codec, crf=crf, color_fix=color_fix)
                       for m in model_ids]
        except BaseException:
            _remove([_media(f"u{owner.pk}", "uploads", str(upload.id))])
            raise
    return upload, results


def output_suffix(result: Result) -> str:
    if result.upload.is_video:
        return videos.output_suffix(result.upload.original.name)[1:]
    fmt = (result.job.params.get("format") or "").lower()
    return _SUFFIX.get(fmt, fmt) if fmt else Path(result.upload.original.name).suffix[1:]


@dataclass
class Submission:
    """What happened to each file of one upload form."""

    accepted: list[tuple[Upload, list[Result]]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)

    @property
    def results(self) -> list[Result]:
        return [r for _, results in self.accepted for r in results]


def upload_submit(*, owner: AbstractBaseUser, files: list[UploadedFile], model_ids: list[str],
                  scale: int, output_format: str = "", reference: UploadedFile | None = None,
                  codec: str = "", color_fix: str = "auto") -> Submission:
    """Store each file and queue one job per chosen model. A bad file is reported and
    skipped; the good ones in the same submission still go through. `output_format` is for
    the images among them, `codec` for the videos, `color_fix` for all."""
    submission_check(owner=owner, files=[*files, *([reference] if reference else [])],
                     jobs=len(files) * len(model_ids))
    outcome = Submission()
    for file in files:
        try:
            video = is_video(file.name or "")
            outcome.accepted.append(upload_queue(
                owner=owner, file=file, model_ids=model_ids, scale=scale,
                output_format="" if video else output_format,
                reference=reference, codec=codec if video else "", color_fix=color_fix))
        except (ImageRejected, ConfigError) as exc:
            outcome.rejected.append((file.name or "(unnamed)", str(exc)))
    return outcome


def _refuse_while_active(jobs: QuerySet[Job], what: str) -> None:
    # The worker is writing into the folders a delete removes: cancel first.
    if jobs.filter(status__in=ACTIVE).exists():
        raise ConfigError(f"an upscale of {what} is queued or running; cancel it or wait for "
                          "it to finish, then delete")


def _remove(folders: list[Path]) -> None:
    for folder in folders:  # after the rows: a failed delete leaves files, never dangling rows
        shutil.rmtree(folder, ignore_errors=True)


def upload_delete(*, upload: Upload) -> None:
    """Delete an upload with every result made from it: rows (jobs, gallery entries) and
    files. ConfigError while one of its upscales is queued or running."""
    with transaction.atomic():
        jobs = Job.objects.filter(image_result__upload=upload)
        _refuse_while_active(jobs, upload.name)
        folders = [_media(f"u{upload.owner_id}", "uploads", str(upload.id)),
                   *(_media(f"u{upload.owner_id}", "results", str(job_id))
                     for job_id in jobs.values_list("id", flat=True))]
        jobs.delete()  # results and their gallery entries go with their jobs
        upload.delete()
    _remove(folders)


def result_delete(*, result: Result) -> None:
    """Delete one upscale (job, files, gallery entries); its upload goes too when this was
    its only result, as API clients never see uploads. ConfigError while it is running."""
    if not result.upload.results.exclude(pk=result.pk).exists():
        upload_delete(upload=result.upload)
        return
    with transaction.atomic():
        jobs = Job.objects.filter(pk=result.job_id)
        _refuse_while_active(jobs, result.upload.name)
        jobs.delete()
    _remove([_media(f"u{result.upload.owner_id}", "results", str(result.job_id))])
