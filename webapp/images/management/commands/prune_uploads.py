"""`python manage.py prune_uploads [--days N] [--dry-run]`: delete old uploads and results.

N defaults to SR_UPLOAD_RETENTION_DAYS. Uploads with a result in a gallery are kept; run it
daily from cron or the systemd timer in deploy/systemd.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.images.retention import uploads_prune


class Command(BaseCommand):
    help = "Delete uploads (with their results and files) older than N days, except gallery ones."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=settings.SR_UPLOAD_RETENTION_DAYS,
                            help="age in days (default: SR_UPLOAD_RETENTION_DAYS)")
        parser.add_argument("--dry-run", action="store_true", help="list, delete nothing")

    def handle(self, *args: object, days: int, dry_run: bool, **options: object) -> None:
        if days < 1:
            raise CommandError("give --days N (at least 1) or set SR_UPLOAD_RETENTION_DAYS; "
                               "uploads are kept forever otherwise")
        report = uploads_prune(days=days, dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        for label in report.deleted:
            self.stdout.write(f"{verb} {label}")
        for label in report.busy:
            self.stdout.write(f"kept {label}: an upscale is queued or running")
        self.stdout.write(f"{verb} {len(report.deleted)} upload(s) older than {days} days; kept "
                          f"{report.kept_in_galleries} in galleries, {len(report.busy)} busy")
