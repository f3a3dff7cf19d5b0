"""Token services and the lookup shared by HTTP views and the websocket middleware."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from webapp.api.models import ApiToken

PREFIX = "srs_"
# `last_used_at` is for people auditing their tokens: a minute's precision is plenty, and a
# write on every API request (an fsync on SQLite) is not free.
LAST_USED_PRECISION = timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_create(*, user: AbstractBaseUser, name: str = "") -> str:
    """Create a token for `user` and return it; it cannot be recovered later."""
    token = PREFIX + secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, digest=_digest(token), prefix=token[:10], name=name)
    return token


def token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(id=token.id).update(revoked_at=timezone.now())


def token_user(token: str) -> AbstractBaseUser | None:
    """The active user a token belongs to, or None."""
    if not token or not token.startswith(PREFIX):
        return None
    row = (ApiToken.objects.select_related("user")
           .filter(digest=_digest(token), revoked_at__isnull=True).first())
    if row is None or not row.user.is_active:
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_PRECISION:
        ApiToken.objects.filter(id=row.id).update(last_used_at=now)
    return row.user


def bearer_token(header: str | None) -> str | None:
    """The token in an `Authorization: Bearer <token>` header, or None."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None
