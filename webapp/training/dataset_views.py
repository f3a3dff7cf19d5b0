"""Staff pages for datasets: add (archive or server folder), detail with thumbnails and
the degradation preview."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from sr_engine.errors import EngineError
from webapp.training.access import staff_required
from webapp.training.archives import ArchiveRejected, name_list
from webapp.training.datasets import dataset_create_from_archive, dataset_register_folder
from webapp.training.deletion import dataset_delete
from webapp.training.forms import DatasetFolderForm, DatasetUploadForm, PreviewForm
from webapp.training.samples import dataset_preview
from webapp.training.selectors import dataset_get


def _dataset_or_404(dataset_id: int):
    dataset = dataset_get(dataset_id)
    if dataset is None:
        raise Http404("no such dataset")
    return dataset


@staff_required
def dataset_new(request: HttpRequest) -> HttpResponse:
    upload = DatasetUploadForm(prefix="up")
    folder = DatasetFolderForm(prefix="dir")
    if request.method == "POST":
        which = request.POST.get("which")
        try:
            if which == "upload":
                upload = DatasetUploadForm(request.POST, request.FILES, prefix="up")
                if upload.is_valid():
                    dataset = dataset_create_from_archive(
                        owner=request.user, name=upload.cleaned_data["name"],
                        archive=upload.cleaned_data["archive"],
                        strict=upload.cleaned_data["strict"])
                    _report_skipped(request, dataset.skipped)
                    return redirect("training_dataset", dataset_id=dataset.id)
            else:
                folder = DatasetFolderForm(request.POST, prefix="dir")
                if folder.is_valid():
                    dataset = dataset_register_folder(
                        owner=request.user, name=folder.cleaned_data["name"],
                        folder=folder.cleaned_data["folder"])
                    return redirect("training_dataset", dataset_id=dataset.id)
        except (ArchiveRejected, EngineError) as exc:
            (upload if which == "upload" else folder).add_error(None, str(exc))
    return render(request, "training/dataset_new.html", {
        "upload": upload, "folder": folder, "roots": settings.SR_DATASET_ROOTS},
        status=400 if upload.errors or folder.errors else 200)


def _report_skipped(request: HttpRequest, skipped: list[str]) -> None:
    """Name what an accepted archive left out (bad images with their reason, other files)
    on the dataset page the upload redirects to."""
    if skipped:
        messages.warning(request, f"skipped {len(skipped)} file(s): "
                                  f"{name_list(skipped, limit=20)}")


@staff_required
def dataset_detail(request: HttpRequest, dataset_id: int) -> HttpResponse:
    dataset = _dataset_or_404(dataset_id)
    preview = PreviewForm(request.GET or None)
    query = request.GET.urlencode() if preview.is_bound and preview.is_valid() else ""
    return render(request, "training/dataset.html", {
        "dataset": dataset, "preview": preview, "query": query,
        "thumbs": range(len(dataset.thumbnails))})


@staff_required
@require_GET
def dataset_thumb(request: HttpRequest, dataset_id: int, index: int) -> HttpResponse:
    dataset = _dataset_or_404(dataset_id)
    if index >= len(dataset.thumbnails):
        raise Http404("no such thumbnail")
    return FileResponse(open(Path(settings.MEDIA_ROOT) / dataset.thumbnails[index], "rb"),
                        content_type="image/png")


@staff_required
@require_GET
def dataset_preview_image(request: HttpRequest, dataset_id: int, kind: str) -> HttpResponse:
    dataset = _dataset_or_404(dataset_id)
    form = PreviewForm(request.GET)
    if kind not in ("hr", "lr", "bicubic") or not form.is_valid():
        return HttpResponse(f"bad preview request: {form.errors.as_text()}", status=400,
                            content_type="text/plain")
    try:
        views = dataset_preview(dataset=dataset, scale=form.cleaned_data["scale"],
                                degradation=form.degradation(),
                                seed=form.cleaned_data["seed"] or 0)
    except EngineError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain")
    return HttpResponse(views[kind], content_type="image/png")


@staff_required
@require_POST
def dataset_remove(request: HttpRequest, dataset_id: int) -> HttpResponse:
    dataset = _dataset_or_404(dataset_id)
    try:
        dataset_delete(dataset=dataset)
    except EngineError as exc:
        messages.error(request, str(exc))
        return redirect("training_dataset", dataset_id=dataset_id)
    messages.success(request, f"dataset {dataset.name} deleted")
    return redirect("training")
