"""The upload form: many images or videos, one or more models, a scale, an output format (for
images), a codec (for videos), a colour fix, an optional reference. Per-file problems are not
form errors: `upload_submit` reports them per file."""

from __future__ import annotations

from django import forms
from django.conf import settings

from sr_engine.errors import ConfigError
from sr_engine.video import VIDEO_SUFFIXES, is_video
from webapp.images.catalog import model_catalog, model_resolve
from webapp.images.services import COLOR_FIXES, OUTPUT_FORMATS
from webapp.images.videos import CODECS

SCALES = (2, 3, 4, 8)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={
            "accept": "image/*," + ",".join(VIDEO_SUFFIXES)}))
        super().__init__(*args, **kwargs)

    def clean(self, data: object, initial: object = None) -> list:
        files = data if isinstance(data, (list, tuple)) else [data]
        return [super(MultipleFileField, self).clean(f, initial) for f in files if f]


class UploadForm(forms.Form):
    images = MultipleFileField(label="Images or videos")
    models = forms.MultipleChoiceField(label="Models", widget=forms.CheckboxSelectMultiple)
    scale = forms.TypedChoiceField(choices=[(s, f"x{s}") for s in SCALES], coerce=int,
                                   initial=4)
    output_format = forms.ChoiceField(choices=list(OUTPUT_FORMATS.items()), required=False,
                                      label="Output format")
    codec = forms.ChoiceField(choices=[("", "the container's usual one"),
                                       *((c, c.upper()) for c in CODECS)],
                              required=False, label="Video codec",
                              help_text="videos keep their container, frame rate, audio and "
                                        "subtitles; H.265 does not play in every browser")
    color_fix = forms.ChoiceField(choices=list(COLOR_FIXES.items()), required=False,
                                  initial="auto", label="Colour fix: keep the input's colours",
                                  help_text="corrects a colour cast or brightness shift some "
                                            "models add; the detail is left as it is")
    reference = forms.FileField(required=False, label="Reference HR image (optional)",
                                help_text="the true high-resolution image, for real PSNR/SSIM; "
                                          "only with a single upload")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.catalog = model_catalog()
        self.fields["models"].choices = [(c.id, c.label) for c in self.catalog]
        self.fields["models"].initial = ["bicubic"]

    def clean_color_fix(self) -> str:
        return self.cleaned_data.get("color_fix") or "auto"

    def clean_images(self) -> list:
        files = self.cleaned_data["images"]
        if not files:
            raise forms.ValidationError("Choose at least one image or video.")
        if len(files) > settings.SR_MAX_FILES:
            raise forms.ValidationError(f"At most {settings.SR_MAX_FILES} files at once.")
        return files

    def clean(self) -> dict:
        data = super().clean()
        scale, models = data.get("scale"), data.get("models") or []
        images = any(not is_video(f.name or "") for f in data.get("images") or [])
        for model_id in models:
            try:
                model_resolve(model_id, scale or 0, images=images)
            except ConfigError as exc:
                self.add_error("models", str(exc))
        if data.get("reference") and len(data.get("images") or []) > 1:
            self.add_error("reference", "A reference image only works with a single upload.")
        return data
