"""Reads of jobs. Ownership is part of every query: another user's job is simply not found."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from webapp.jobs.models import Job

STAFF_KINDS = ("train", "evaluate")


def job_get_for_user(*, job_id: uuid.UUID | str,
                     user: AbstractBaseUser | AnonymousUser) -> Job | None:
    if not user.is_authenticated:
        return None
    mine = Q(owner=user)
    if user.is_staff:  # training and evaluation are shared work among staff
        mine |= Q(kind__in=STAFF_KINDS)
    try:
        return Job.objects.get(mine, id=job_id)
    except (Job.DoesNotExist, ValidationError, ValueError):
        return None


def job_list_for_user(*, user: AbstractBaseUser, kind: str | None = None) -> QuerySet[Job]:
    qs = Job.objects.filter(owner=user)
    return qs.filter(kind=kind) if kind else qs


def job_payload(job: Job) -> dict:
    """The JSON a page or socket gets for a job: the same shape for snapshot and updates."""
    return {
        "id": str(job.id),
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "error": job.error,
        "result": job.result if job.status == "done" else {},
        "cancel_requested": job.cancel_requested,
    }
