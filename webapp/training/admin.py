"""Django admin: browse datasets, runs, promoted models and evaluation results; runs can be
cancelled or resumed in bulk. New runs are started from the studio page (/training/)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from sr_engine.errors import EngineError
from webapp.training.models import Dataset, EvalResult, PromotedModel, TrainingRun
from webapp.training.services import training_run_cancel, training_run_resume


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "source", "image_count", "total_bytes", "path", "created_at")
    readonly_fields = ("source", "path", "image_count", "top_level_count", "total_bytes",
                       "stats", "thumbnails")


@admin.action(description="Cancel the selected runs")
def cancel_runs(modeladmin: admin.ModelAdmin, request: HttpRequest,
                queryset: QuerySet[TrainingRun]) -> None:
    for run in queryset.select_related("job"):
        training_run_cancel(run=run)


@admin.action(description="Resume the selected runs from their last saved state")
def resume_runs(modeladmin: admin.ModelAdmin, request: HttpRequest,
                queryset: QuerySet[TrainingRun]) -> None:
    for run in queryset.select_related("job"):
        try:
            training_run_resume(run=run, user=request.user)
        except EngineError as exc:
            modeladmin.message_user(request, f"{run.name}: {exc}", messages.ERROR)


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "step", "attempts", "train_dataset", "created_at")
    readonly_fields = ("job", "config", "out_dir", "step", "best_metrics", "attempts")
    actions = [cancel_runs, resume_runs]

    @admin.display(description="status")
    def status(self, run: TrainingRun) -> str:
        return run.job.status


@admin.register(PromotedModel)
class PromotedModelAdmin(admin.ModelAdmin):
    list_display = ("name", "arch", "scale", "step", "metrics", "created_at")
    readonly_fields = ("path", "arch", "scale", "step", "metrics", "recipe", "run")


@admin.register(EvalResult)
class EvalResultAdmin(admin.ModelAdmin):
    list_display = ("model", "dataset", "scale", "psnr", "ssim", "bicubic_psnr",
                    "bicubic_ssim", "created_at")
