"""Uploads, their upscaled results, galleries of results and share links.

Files live under MEDIA_ROOT but never get a public URL: views serve them after checking
ownership or a valid share link.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from webapp.jobs.models import Job


class Media(models.TextChoices):
    IMAGE = "image"
    VIDEO = "video"


class Upload(models.Model):
    """One uploaded image (and its optional high-resolution reference) or video clip."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="uploads")
    name = models.CharField(max_length=255)
    original = models.FileField(max_length=500)
    thumbnail = models.FileField(max_length=500, blank=True)
    reference = models.FileField(max_length=500, blank=True)
    sha256 = models.CharField(max_length=64)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    format = models.CharField(max_length=16)
    notes = models.JSONField(default=list, help_text="what was noticed about the file")
    media = models.CharField(max_length=8, choices=Media.choices, default=Media.IMAGE)
    # A clip's probe (sr_engine.video.io.VideoInfo.to_dict(): fps, frames, duration_s, ...).
    video = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_video(self) -> bool:
        return self.media == Media.VIDEO


class Result(models.Model):
    """The upscale-specific side of a Job: which upload, and the files it produced."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, primary_key=True,
                               related_name="image_result")
    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="results")
    model = models.CharField(max_length=255, help_text="the catalogue id the user chose")
    scale = models.PositiveSmallIntegerField()
    output = models.FileField(max_length=500, blank=True)
    bicubic = models.FileField(max_length=500, blank=True)
    # A browser-friendly copy when the output format is not one browsers show (TIFF); for a
    # video, its last upscaled preview frame (a small JPEG, the players' poster).
    preview = models.FileField(max_length=500, blank=True)

    def __str__(self) -> str:
        return f"{self.upload} x{self.scale} {self.model}"


class Gallery(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="galleries")
    title = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "galleries"

    def __str__(self) -> str:
        return self.title


class GalleryItem(models.Model):
    gallery = models.ForeignKey(Gallery, on_delete=models.CASCADE, related_name="items")
    result = models.ForeignKey(Result, on_delete=models.CASCADE, related_name="gallery_items")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["added_at"]
        constraints = [models.UniqueConstraint(fields=["gallery", "result"],
                                               name="gallery_item_once")]


class ShareLink(models.Model):
    gallery = models.ForeignKey(Gallery, on_delete=models.CASCADE, related_name="links")
    token = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()
