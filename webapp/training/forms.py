"""Staff forms. They only collect fields: the engine's config dataclasses (through
`training.services`) are what decide whether a run is valid."""

from __future__ import annotations

import json
from typing import get_args

from django import forms
from django.conf import settings

from webapp.training.models import Dataset
from webapp.training.recipes import recipe_names

SCALES = [(s, f"x{s}") for s in (2, 3, 4, 8)]


def _precisions() -> list[tuple[str, str]]:
    from sr_engine.train.config import TrainPrecision

    return [("", "(recipe)")] + [(p, p) for p in get_args(TrainPrecision)]


def _archs() -> list[tuple[str, str]]:
    from sr_engine.registry import list_models

    return [(s.id, s.id) for s in list_models("sr") if s.trainable]


def _queues() -> list[tuple[str, str]]:
    return [(q, q) for q in settings.SR_TRAIN_QUEUES]


class DatasetUploadForm(forms.Form):
    name = forms.CharField(max_length=100)
    archive = forms.FileField(help_text="zip or tar(.gz) of HR images")
    strict = forms.BooleanField(required=False, help_text=(
        "refuse the whole archive when an image is unreadable, too small or too large "
        "(otherwise those are skipped and listed)"))


class DatasetFolderForm(forms.Form):
    name = forms.CharField(max_length=100)
    folder = forms.CharField(max_length=1000, help_text="absolute path under SR_DATASET_ROOTS")


class TrainingRunForm(forms.Form):
    name = forms.CharField(max_length=100, required=False)
    arch = forms.ChoiceField(choices=_archs)
    scale = forms.TypedChoiceField(choices=SCALES, coerce=int, initial=2)
    train_dataset = forms.ModelChoiceField(queryset=Dataset.objects.all())
    val_dataset = forms.ModelChoiceField(queryset=Dataset.objects.all(), required=False)
    recipe = forms.ChoiceField(required=False, help_text="a shipped recipe as the starting point",
                               choices=lambda: [("", "(none: engine defaults)")]
                               + [(n, n) for n in recipe_names()])
    steps = forms.IntegerField(min_value=1, required=False)
    batch_size = forms.IntegerField(min_value=1, required=False)
    patch_size = forms.IntegerField(min_value=1, required=False, label="Patch size (LR px)")
    lr = forms.FloatField(required=False, label="Learning rate")
    l1 = forms.FloatField(required=False, label="L1 weight")
    mse = forms.FloatField(required=False, label="MSE weight")
    charbonnier = forms.FloatField(required=False, label="Charbonnier weight")
    precision = forms.ChoiceField(required=False, choices=_precisions,
                                  help_text="auto: bf16 or fp32, the faster on the worker")
    keep_last = forms.IntegerField(min_value=1, required=False, label="Keep last N checkpoints")
    log_every = forms.IntegerField(min_value=1, required=False)
    val_every = forms.IntegerField(min_value=1, required=False)
    ckpt_every = forms.IntegerField(min_value=1, required=False)
    hparams = forms.CharField(required=False, label="Arch hyperparameters (JSON)",
                              widget=forms.TextInput(attrs={"placeholder": '{"n1": 64}'}))
    queue = forms.ChoiceField(choices=_queues)

    OVERRIDE_FIELDS = ("steps", "batch_size", "patch_size", "lr", "l1", "mse", "charbonnier",
                       "precision", "keep_last", "log_every", "val_every", "ckpt_every",
                       "hparams")

    def clean_hparams(self) -> dict | None:
        raw = self.cleaned_data.get("hparams") or ""
        if not raw.strip():
            return None
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("give a JSON object, e.g. {\"n1\": 64}")
        return value

    def overrides(self) -> dict:
        data = self.cleaned_data
        return {k: data[k] for k in self.OVERRIDE_FIELDS if data.get(k) not in (None, "")}


class PromoteForm(forms.Form):
    name = forms.SlugField(max_length=64)
    which = forms.ChoiceField(choices=[("best", "best validation"), ("last", "last step")])


class EvaluationForm(forms.Form):
    model = forms.ChoiceField(choices=lambda: [(c.id, c.label) for c in _catalog()])
    scale = forms.TypedChoiceField(choices=SCALES, coerce=int, initial=2)
    datasets = forms.ModelMultipleChoiceField(queryset=Dataset.objects.filter(
        top_level_count__gt=0), widget=forms.CheckboxSelectMultiple)
    queue = forms.ChoiceField(choices=_queues)


def _catalog() -> list:
    from webapp.images.catalog import model_catalog

    return model_catalog()


class PreviewForm(forms.Form):
    scale = forms.TypedChoiceField(choices=SCALES, coerce=int, initial=2)
    blur_prob = forms.FloatField(required=False, initial=0.0, min_value=0, max_value=1)
    noise_prob = forms.FloatField(required=False, initial=0.0, min_value=0, max_value=1)
    jpeg_prob = forms.FloatField(required=False, initial=0.0, min_value=0, max_value=1)
    seed = forms.IntegerField(required=False, initial=0, min_value=0)

    def degradation(self) -> dict:
        return {k: self.cleaned_data[k] or 0.0 for k in ("blur_prob", "noise_prob", "jpeg_prob")}
