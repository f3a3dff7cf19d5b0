"""Ageing out uploads: a self-hosted studio should not keep every photo forever."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from sr_engine.errors import ConfigError
from webapp.images.models import Upload
from webapp.images.services import upload_delete
from webapp.jobs.models import ACTIVE


@dataclass
class PruneReport:
    deleted: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)  # an upscale still queued or running
    kept_in_galleries: int = 0


def uploads_prune(*, days: int, dry_run: bool = False) -> PruneReport:
    """Delete uploads older than `days` with their results and files. Uploads with a result in
    a gallery stay: galleries are what people keep and share by link."""
    old = Upload.objects.filter(created_at__lt=timezone.now() - timedelta(days=days))
    in_gallery = old.filter(results__gallery_items__isnull=False).distinct()
    busy = set(old.filter(results__job__status__in=ACTIVE).values_list("pk", flat=True))
    report = PruneReport(kept_in_galleries=in_gallery.count())
    for upload in old.exclude(pk__in=in_gallery.values("pk")).iterator():
        label = f"{upload.owner} / {upload.name} ({upload.created_at:%Y-%m-%d})"
        if upload.pk in busy:
            report.busy.append(label)
            continue
        try:
            if not dry_run:
                upload_delete(upload=upload)
        except ConfigError:  # a job was queued since
            report.busy.append(label)
            continue
        report.deleted.append(label)
    return report
