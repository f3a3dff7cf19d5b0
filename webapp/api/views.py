"""JSON API v1 over the same services as the pages. Schema: /api/openapi.json."""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from sr_engine.errors import ConfigError
from sr_engine.video import is_video
from webapp.api.auth import api_error, api_methods, token_required
from webapp.api.openapi import openapi_schema
from webapp.images.catalog import model_catalog, model_resolve
from webapp.images.files import result_file_response
from webapp.images.ranges import byte_ranges
from webapp.images.selectors import result_get_for_user, video_progress
from webapp.images.services import (
    OUTPUT_FORMATS,
    color_fix_check,
    result_delete,
    submission_check,
    upload_queue,
)
from webapp.images.validation import ImageRejected
from webapp.jobs.models import Job
from webapp.jobs.selectors import job_get_for_user, job_list_for_user
from webapp.jobs.services import job_cancel, job_retry


def job_representation(request: HttpRequest, job: Job) -> dict:
    result = getattr(job, "image_result", None)
    done = job.status == "done"
    video = result is not None and result.upload.is_video
    return {
        "id": str(job.id), "kind": job.kind, "status": job.status,
        "model": result.model if result else None, "scale": result.scale if result else None,
        "media": result.upload.media if result else None,
        "frames": video_progress(job=job, upload=result.upload) if video else None,
        "progress": job.progress, "error": job.error or None, "attempts": job.attempts,
        "metrics": job.result.get("metrics") if done else None,
        "output": job.result.get("output") if done else None,
        "timings": job.result.get("timings") if done else None,
        "output_url": (request.build_absolute_uri(reverse("api_job_output", args=[job.id]))
                       if done and result else None),
        "websocket": f"/ws/jobs/{job.id}/",
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def _parse_crf(raw: str | None) -> int | None:
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"crf: expected an integer, got {raw!r}") from None


def _parse_scale(raw: str | None) -> int:
    try:
        scale = int(raw or 4)
    except ValueError:
        raise ConfigError(f"scale: expected an integer, got {raw!r}") from None
    if scale < 1:
        raise ConfigError("scale: must be a positive integer")
    return scale


@token_required
@api_methods("GET", "POST")
def jobs(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        items = job_list_for_user(user=request.user).select_related(
            "image_result__upload")[:100]
        return JsonResponse({"jobs": [job_representation(request, j) for j in items]})
    # A video may come as 'video' or as 'image': its extension is what makes it one.
    image = request.FILES.get("video") or request.FILES.get("image")
    if image is None:
        return api_error(400, "image: a multipart file field 'image' (or 'video') is required")
    fmt = request.POST.get("format", "")
    if fmt not in OUTPUT_FORMATS:
        return api_error(400, f"format: expected one of {sorted(k for k in OUTPUT_FORMATS if k)}")
    reference = request.FILES.get("reference")
    try:
        scale = _parse_scale(request.POST.get("scale"))
        model_id = request.POST.get("model") or "bicubic"
        model_resolve(model_id, scale, images=not is_video(image.name or ""))
        crf = _parse_crf(request.POST.get("crf"))
        color_fix = color_fix_check(request.POST.get("color_fix", ""))
        submission_check(owner=request.user, files=[image, *([reference] if reference else [])],
                         jobs=1)
        _, (result,) = upload_queue(owner=request.user, file=image, model_ids=[model_id],
                                    scale=scale, output_format=fmt, reference=reference,
                                    codec=request.POST.get("codec", ""), crf=crf,
                                    color_fix=color_fix)
    except (ConfigError, ImageRejected) as exc:
        return api_error(400, str(exc))
    return JsonResponse({"id": str(result.job_id), "status": "queued",
                         "url": request.build_absolute_uri(reverse("api_job",
                                                                   args=[result.job_id]))},
                        status=201)


@token_required
@api_methods("GET", "DELETE")
def job_detail(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    if request.method == "DELETE":
        return _job_delete(request, job_id)
    job = job_get_for_user(job_id=job_id, user=request.user)
    if job is None:
        return api_error(404, "no such job")
    return JsonResponse(job_representation(request, job))


def _job_delete(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    result = result_get_for_user(job_id=job_id, user=request.user)
    if result is None:
        return api_error(404, "no such job")
    try:
        result_delete(result=result)
    except ConfigError as exc:
        return api_error(409, str(exc))
    return HttpResponse(status=204)


@token_required
@api_methods("POST")
def job_cancel_api(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    job = job_get_for_user(job_id=job_id, user=request.user)
    if job is None:
        return api_error(404, "no such job")
    return JsonResponse(job_representation(request, job_cancel(job=job)))


@token_required
@api_methods("POST")
def job_retry_api(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    job = job_get_for_user(job_id=job_id, user=request.user)
    if job is None:
        return api_error(404, "no such job")
    try:
        return JsonResponse(job_representation(request, job_retry(job=job)))
    except ConfigError as exc:
        return api_error(409, str(exc))


@token_required
@api_methods("GET")
@byte_ranges
def job_output(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    result = result_get_for_user(job_id=job_id, user=request.user)
    if result is None or result.job.status != "done":
        return api_error(404, "no output (the job does not exist or has not finished)")
    return result_file_response(result, "download")


@token_required
@api_methods("GET")
def models(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"models": [c.to_dict() for c in model_catalog()]})


@csrf_exempt  # public and read-only; a POST gets the API's JSON 405, not an HTML CSRF page
@api_methods("GET")
def openapi(request: HttpRequest) -> HttpResponse:
    return JsonResponse(openapi_schema(request.build_absolute_uri("/")))
