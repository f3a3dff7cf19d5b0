"""Job page (live progress), its polling fallback, cancel and retry."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from sr_engine.errors import ConfigError
from webapp.jobs.selectors import job_get_for_user, job_payload
from webapp.jobs.services import job_cancel, job_retry


def _job_or_404(request: HttpRequest, job_id: uuid.UUID):
    job = job_get_for_user(job_id=job_id, user=request.user)
    if job is None:
        raise Http404("no such job")
    return job


@login_required
def job_page(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    job = _job_or_404(request, job_id)
    return render(request, "jobs/job.html", {"job": job, "payload": job_payload(job),
                                             "result": getattr(job, "image_result", None)})


@login_required
def job_status(request: HttpRequest, job_id: uuid.UUID) -> JsonResponse:
    """What the websocket would say, for pages whose socket is down."""
    return JsonResponse(job_payload(_job_or_404(request, job_id)))


@login_required
@require_POST
def job_cancel_view(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    job_cancel(job=_job_or_404(request, job_id))
    return redirect("job", job_id=job_id)


@login_required
@require_POST
def job_retry_view(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    try:
        job_retry(job=_job_or_404(request, job_id))
    except ConfigError as exc:  # not failed or cancelled (any more): say so on its page
        messages.error(request, str(exc))
    return redirect("job", job_id=job_id)
