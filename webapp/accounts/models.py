"""Invite codes for `SR_SIGNUP=invite`: staff make one per person, sign-up spends it."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


def new_invite_code() -> str:
    return secrets.token_urlsafe(12)


class Invite(models.Model):
    code = models.CharField(max_length=32, unique=True, default=new_invite_code, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="invites_created")
    # used_at, not used_by, marks a spent code: deleting its user must not make it valid again.
    used_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.code} ({'used' if self.used_at else 'unused'})"


def invite_is_unused(code: str) -> bool:
    return Invite.objects.filter(code=code, used_at__isnull=True).exists()


def invite_spend(code: str, user: models.Model) -> bool:
    """Mark the code used by `user`; False when it is unknown or already spent (a race with
    another sign-up: the conditional UPDATE lets exactly one of them win)."""
    spent = Invite.objects.filter(code=code, used_at__isnull=True).update(
        used_by=user, used_at=timezone.now())
    return spent == 1
