"""Pages for uploading, bake-offs and results. Views translate; services do the work."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from sr_engine.errors import ConfigError
from webapp.images.files import result_file_response, upload_file_response
from webapp.images.forms import UploadForm
from webapp.images.frames import FRAME
from webapp.images.models import Upload
from webapp.images.ranges import byte_ranges
from webapp.images.selectors import (
    gallery_list_for_user,
    result_get_for_user,
    results_of_upload,
    upload_get_for_user,
    upload_list_for_user,
)
from webapp.images.services import result_folder, upload_delete, upload_submit


@login_required
def home(request: HttpRequest) -> HttpResponse:
    uploads = upload_list_for_user(user=request.user)[:50]
    return render(request, "images/home.html", {"uploads": uploads})


@login_required
@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        outcome = upload_submit(owner=request.user, files=data["images"],
                                model_ids=data["models"], scale=data["scale"],
                                output_format=data["output_format"],
                                reference=data.get("reference"), codec=data["codec"],
                                color_fix=data["color_fix"])
        if not outcome.rejected:
            if len(outcome.results) == 1:
                return redirect("job", job_id=outcome.results[0].job_id)
            if len(outcome.accepted) == 1:
                return redirect("upload_detail", upload_id=outcome.accepted[0][0].id)
            return redirect("home")
        status = 200 if outcome.accepted else 400
        return render(request, "images/upload.html",
                      {"form": UploadForm(), "outcome": outcome}, status=status)
    return render(request, "images/upload.html", {"form": form},
                  status=400 if form.errors else 200)


@login_required
def upload_detail(request: HttpRequest, upload_id: uuid.UUID) -> HttpResponse:
    """The bake-off: every model this upload went through, side by side, with metrics."""
    return _upload_page(request, _upload_or_404(request, upload_id))


def _upload_or_404(request: HttpRequest, upload_id: uuid.UUID) -> Upload:
    item = upload_get_for_user(upload_id=upload_id, user=request.user)
    if item is None:
        raise Http404("no such upload")
    return item


def _upload_page(request: HttpRequest, item: Upload, status: int = 200) -> HttpResponse:
    return render(request, "images/upload_detail.html",
                  {"upload": item, "results": results_of_upload(upload=item)}, status=status)


@login_required
@require_POST
def upload_remove(request: HttpRequest, upload_id: uuid.UUID) -> HttpResponse:
    item = _upload_or_404(request, upload_id)
    try:
        upload_delete(upload=item)
    except ConfigError as exc:  # still running: the page again, with the reason
        messages.error(request, str(exc))
        return _upload_page(request, item, status=409)
    messages.success(request, f"{item.name} and its results deleted")
    return redirect("home")


@login_required
@byte_ranges
def upload_file(request: HttpRequest, upload_id: uuid.UUID, which: str) -> HttpResponse:
    return upload_file_response(_upload_or_404(request, upload_id), which)


@login_required
def result(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    item = result_get_for_user(job_id=job_id, user=request.user)
    if item is None:
        raise Http404("no such result")
    if item.job.status != "done":
        return redirect("job", job_id=job_id)
    return render(request, "images/result.html",
                  {"result": item, "galleries": gallery_list_for_user(user=request.user)})


@login_required
@byte_ranges
def result_file(request: HttpRequest, job_id: uuid.UUID, which: str) -> HttpResponse:
    item = result_get_for_user(job_id=job_id, user=request.user)
    if item is None or item.job.status != "done":
        raise Http404("no such result")
    return result_file_response(item, which)


@login_required
def result_frame(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    """A video job's latest preview frame, while it runs (and its poster once done)."""
    item = result_get_for_user(job_id=job_id, user=request.user)
    if item is None or not item.upload.is_video:
        raise Http404("no such video job")
    path = result_folder(owner_id=item.job.owner_id, job_id=item.job_id) / FRAME
    try:
        response = FileResponse(path.open("rb"), content_type="image/jpeg")
    except FileNotFoundError:
        raise Http404("no preview frame yet") from None
    response["Cache-Control"] = "no-store"  # it changes while the job runs
    return response
