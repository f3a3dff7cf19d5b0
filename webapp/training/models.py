"""Training studio: datasets, training runs (one Job per attempt), their metric history,
promoted models and evaluation results.

A TrainingRun outlives its jobs: a cancelled or lost run is resumed by a new `train` Job
that continues the same out_dir, and the history belongs to the run, so the chart of a
resumed run is one curve.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from webapp.jobs.models import Job


class Dataset(models.Model):
    class Source(models.TextChoices):
        UPLOAD = "upload"
        FOLDER = "folder"

    name = models.CharField(max_length=100, unique=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                              related_name="datasets")
    source = models.CharField(max_length=8, choices=Source.choices)
    path = models.CharField(max_length=1000)  # absolute folder of HR images
    image_count = models.PositiveIntegerField(default=0)
    top_level_count = models.PositiveIntegerField(default=0)  # what validation can use
    total_bytes = models.BigIntegerField(default=0)
    # {"min_w", "max_w", "min_h", "max_h", "median_w", "median_h"}
    stats = models.JSONField(default=dict)
    thumbnails = models.JSONField(default=list)  # paths relative to MEDIA_ROOT
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TrainingRun(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="training_runs")
    job = models.ForeignKey(Job, on_delete=models.PROTECT, related_name="training_runs")
    train_dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="+")
    val_dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="+",
                                    null=True, blank=True)
    recipe = models.CharField(max_length=100, blank=True)  # preset name, "" for none
    config = models.JSONField()  # TrainConfig.to_dict()
    out_dir = models.CharField(max_length=1000)
    attempts = models.PositiveIntegerField(default=1)
    step = models.PositiveIntegerField(default=0)
    best_metrics = models.JSONField(default=dict)
    sample_step = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.job.status})"

    @property
    def total_steps(self) -> int:
        return int(self.config["train"]["steps"])


class MetricPoint(models.Model):
    class Kind(models.TextChoices):
        TRAIN = "train"  # loss parts, lr, it/s
        VAL = "val"  # psnr, ssim

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="points")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    step = models.PositiveIntegerField()
    values = models.JSONField()
    eta_s = models.FloatField(null=True, blank=True)
    ts = models.FloatField()

    class Meta:
        ordering = ["step", "id"]
        indexes = [models.Index(fields=["run", "kind", "step"])]


class PromotedModel(models.Model):
    """A checkpoint copied out of a run under a name everyone can pick for upscaling."""

    name = models.SlugField(max_length=64, unique=True)
    run = models.ForeignKey(TrainingRun, on_delete=models.SET_NULL, null=True, blank=True,
                            related_name="promotions")
    path = models.CharField(max_length=1000)
    arch = models.CharField(max_length=64)
    scale = models.PositiveSmallIntegerField()
    step = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict)
    recipe = models.JSONField(default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EvalResult(models.Model):
    """One model x dataset x scale, beside bicubic on the same images."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="eval_results")
    model = models.CharField(max_length=100)  # catalogue id
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="+")
    scale = models.PositiveSmallIntegerField()
    psnr = models.FloatField(null=True)
    ssim = models.FloatField(null=True)
    bicubic_psnr = models.FloatField(null=True)
    bicubic_ssim = models.FloatField(null=True)
    n_images = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model", "dataset__name", "scale", "-created_at"]
