"""Gallery services: collect finished results, share them by an unguessable, revocable link."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.utils import timezone

from webapp.images.models import Gallery, GalleryItem, Result, ShareLink
from webapp.jobs.models import JobStatus


def gallery_create(*, owner: AbstractBaseUser, title: str) -> Gallery:
    title = title.strip()
    if not title:
        raise ValidationError("Give the gallery a title.")
    return Gallery.objects.create(owner=owner, title=title[:200])


def gallery_add_result(*, gallery: Gallery, result: Result) -> GalleryItem:
    if result.job.owner_id != gallery.owner_id:
        raise ValidationError("You can only add your own results.")
    if result.job.status != JobStatus.DONE:
        raise ValidationError("Only finished results can go into a gallery.")
    item, _ = GalleryItem.objects.get_or_create(gallery=gallery, result=result)
    return item


def gallery_remove_result(*, gallery: Gallery, result: Result) -> None:
    GalleryItem.objects.filter(gallery=gallery, result=result).delete()


def gallery_delete(*, gallery: Gallery) -> None:
    gallery.delete()  # items and links go with it; the results stay


def share_link_create(*, gallery: Gallery, expires_in_days: int | None = None) -> ShareLink:
    """A new link; 256 random bits make it unguessable. `expires_in_days` None = no expiry."""
    if expires_in_days is not None and expires_in_days < 1:
        raise ValidationError("An expiry must be at least one day away.")
    expires = (timezone.now() + timedelta(days=expires_in_days)
               if expires_in_days is not None else None)
    return ShareLink.objects.create(gallery=gallery, token=secrets.token_urlsafe(32),
                                    expires_at=expires)


def share_link_revoke(*, link: ShareLink) -> None:
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
