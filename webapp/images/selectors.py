"""Reads for uploads, results and galleries; ownership (or a live share link) is in every query."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from webapp.images.models import Gallery, Result, ShareLink, Upload
from webapp.images.videos import frame_count
from webapp.jobs.models import Job

User = AbstractBaseUser | AnonymousUser


def upload_get_for_user(*, upload_id: uuid.UUID, user: User) -> Upload | None:
    if not user.is_authenticated:
        return None
    return Upload.objects.filter(id=upload_id, owner=user).first()


def upload_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Upload]:
    return Upload.objects.filter(owner=user).prefetch_related("results__job")


def result_get_for_user(*, job_id: uuid.UUID, user: User) -> Result | None:
    if not user.is_authenticated:
        return None
    return (Result.objects.select_related("job", "upload")
            .filter(job_id=job_id, job__owner=user).first())


def results_of_upload(*, upload: Upload) -> QuerySet[Result]:
    return upload.results.select_related("job").order_by("job__created_at")


def video_progress(*, job: Job, upload: Upload) -> dict:
    """Frames done and in all, frames per second and seconds left of a video job: from its
    stored progress while frames are being upscaled, from its result once done. `total` is
    None where the clip does not say how many frames it has; `resumed`, once done, the
    frames a rerun took from the segments a killed run had finished."""
    if job.status == "done":
        frames = job.result.get("frames")
        return {"done": frames, "total": frames, "fps": job.result.get("fps"), "eta_s": 0.0,
                "resumed": job.result.get("resumed", 0)}
    progress = job.progress or {}
    if progress.get("stage") == "encoding":
        return {"done": progress.get("current", 0), "total": progress.get("total") or None,
                "fps": (progress.get("metrics") or {}).get("fps"),
                "eta_s": progress.get("eta_s"), "resumed": None}
    total = frame_count(upload.video) or None  # before the first frame, or joining after
    return {"done": total if progress.get("stage") == "saving" else 0, "total": total,
            "fps": None, "eta_s": None, "resumed": None}


def gallery_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Gallery]:
    return Gallery.objects.filter(owner=user)


def gallery_get_for_user(*, gallery_id: int, user: User) -> Gallery | None:
    if not user.is_authenticated:
        return None
    return Gallery.objects.filter(id=gallery_id, owner=user).first()


def gallery_results(*, gallery: Gallery) -> QuerySet[Result]:
    return (Result.objects.filter(gallery_items__gallery=gallery)
            .select_related("job", "upload").order_by("gallery_items__added_at"))


def share_link_active(*, token: str) -> ShareLink | None:
    """The share link for `token` if it exists, is not revoked and has not expired."""
    now = timezone.now()
    return (ShareLink.objects.select_related("gallery")
            .filter(token=token, revoked_at__isnull=True)
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)).first())
