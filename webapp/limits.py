"""Per-user limits, checked before anything is stored or queued (LimitExceeded -> 429)."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from webapp.jobs.models import ACTIVE, Job, JobStatus


class LimitExceeded(Exception):
    """The user is over one of their limits; the message says which and what to do."""


def user_jobs_check(user: AbstractBaseUser, adding: int = 1) -> None:
    """Refuse `adding` more jobs when the user's queued and running ones would pass the
    limit (SR_USER_MAX_ACTIVE_JOBS; 0: none)."""
    limit = settings.SR_USER_MAX_ACTIVE_JOBS
    if not limit:
        return
    active = Job.objects.filter(owner=user, status__in=ACTIVE).count()
    if active + adding > limit:
        raise LimitExceeded(f"you have {active} jobs queued or running and the limit is "
                            f"{limit}; wait for some to finish (or cancel them) and try again")


def user_running_jobs(user_id: int) -> int:
    """How many of the user's jobs run now; workers leave a job queued while this is at
    SR_USER_MAX_RUNNING_JOBS (jobs.services.job_start), so no user holds every worker."""
    return Job.objects.filter(owner_id=user_id, status=JobStatus.RUNNING).count()


def _tree_bytes(root: Path) -> int:
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except FileNotFoundError:  # deleted while we walked
                continue
    return total


def user_media_bytes(user: AbstractBaseUser) -> int:
    return _tree_bytes(Path(settings.MEDIA_ROOT) / f"u{user.pk}")


def user_storage_check(user: AbstractBaseUser, adding: int) -> None:
    """Refuse `adding` more bytes of uploads when the user's stored files (uploads and
    results) would pass SR_USER_MAX_BYTES (0: none)."""
    limit = settings.SR_USER_MAX_BYTES
    if not limit:
        return
    used = user_media_bytes(user)
    if used + adding > limit:
        raise LimitExceeded(f"your files take {used:,} bytes and the limit is {limit:,}; "
                            "delete uploads you no longer need and try again")
