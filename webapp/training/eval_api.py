"""API v1 for evaluation jobs (staff tokens only): queue one, read its results."""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse

from sr_engine.errors import EngineError
from webapp.api.auth import api_error, api_methods
from webapp.training.api import dataset_lookup, is_json_int, json_body, staff_token
from webapp.training.evaluation import evaluation_create
from webapp.training.selectors import evaluation_get, evaluation_payload

FIELDS = {"model", "scale", "datasets", "queue"}


@staff_token
@api_methods("POST")
def evaluations(request: HttpRequest) -> HttpResponse:
    try:
        body = json_body(request, fields=FIELDS)
        if not isinstance(body.get("model"), str) or not is_json_int(body.get("scale")):
            raise EngineError("model (string) and scale (integer) are required")
        names = body.get("datasets")
        if not isinstance(names, list):
            raise EngineError("datasets: expected a list of dataset ids or names")
        job = evaluation_create(owner=request.user, model_id=body["model"],
                                scale=body["scale"], queue=body.get("queue"),
                                datasets=[dataset_lookup(d, "datasets") for d in names])
    except EngineError as exc:
        return api_error(400, str(exc))
    url = request.build_absolute_uri(reverse("api_evaluation", args=[job.id]))
    return JsonResponse({"id": str(job.id), "status": job.status, "url": url}, status=201)


@staff_token
@api_methods("GET")
def evaluation(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    job = evaluation_get(job_id)
    if job is None:
        return api_error(404, "no such evaluation job")
    return JsonResponse(evaluation_payload(job))
