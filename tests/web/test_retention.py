"""`manage.py prune_uploads`: old uploads go, with their results; gallery and busy ones stay."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from webapp.images.models import Gallery, GalleryItem, Result, Upload
from webapp.jobs.models import Job, JobStatus

pytestmark = pytest.mark.django_db


def _upload(user, name: str, *, age_days: int, status: str = JobStatus.DONE) -> Result:
    upload = Upload.objects.create(owner=user, name=name, sha256="0" * 64, width=8, height=6,
                                   format="PNG")
    Upload.objects.filter(pk=upload.pk).update(
        created_at=timezone.now() - timedelta(days=age_days))
    job = Job.objects.create(owner=user, kind="upscale", status=status)
    return Result.objects.create(job=job, upload=upload, model="bicubic", scale=2)


def _prune(*args: str) -> str:
    out = io.StringIO()
    call_command("prune_uploads", *args, stdout=out)
    return out.getvalue()


def test_old_uploads_go_unless_in_a_gallery_or_busy(user):
    old, fresh = _upload(user, "old.png", age_days=40), _upload(user, "new.png", age_days=2)
    kept = _upload(user, "kept.png", age_days=40)
    GalleryItem.objects.create(gallery=Gallery.objects.create(owner=user, title="G"), result=kept)
    busy = _upload(user, "busy.png", age_days=40, status=JobStatus.RUNNING)
    assert "would delete 1 upload(s)" in _prune("--days", "30", "--dry-run")
    assert Upload.objects.count() == 4
    out = _prune("--days", "30")
    assert "deleted 1 upload(s) older than 30 days; kept 1 in galleries, 1 busy" in out
    assert "busy.png" in out
    assert set(Upload.objects.values_list("name", flat=True)) == {"new.png", "kept.png", "busy.png"}
    assert not Job.objects.filter(pk=old.job_id).exists()
    assert Job.objects.filter(pk__in=[fresh.job_id, kept.job_id, busy.job_id]).count() == 3


def test_no_age_no_pruning(user, settings):
    settings.SR_UPLOAD_RETENTION_DAYS = 0
    _upload(user, "old.png", age_days=400)
    with pytest.raises(CommandError, match="give --days"):
        _prune()
    assert Upload.objects.count() == 1
