"""API v1 for the training studio (staff tokens only): datasets and training jobs."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse

from sr_engine.errors import EngineError
from webapp.api.auth import api_error, api_methods, token_required
from webapp.training.archives import ArchiveRejected
from webapp.training.datasets import dataset_create_from_archive, dataset_register_folder
from webapp.training.models import Dataset
from webapp.training.selectors import dataset_payload, run_get, run_list, run_payload
from webapp.training.services import (
    model_promote,
    training_run_cancel,
    training_run_create,
    training_run_resume,
)

TRAINING_JOB_FIELDS = {"arch", "scale", "train_dataset", "val_dataset", "recipe", "overrides",
                       "queue", "name"}


def staff_token(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @token_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if not request.user.is_staff:
            return api_error(403, "training and datasets are for staff accounts")
        return view(request, *args, **kwargs)

    return wrapper


def json_body(request: HttpRequest, *, fields: set[str] | None = None) -> dict:
    """The request's JSON object; EngineError when it is not one, or (given `fields`) when
    it has a key outside them."""
    try:
        body = json.loads(request.body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EngineError(f"body: not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise EngineError("body: expected a JSON object")
    unknown = sorted(set(body) - fields) if fields is not None else []
    if unknown:
        raise EngineError(f"unknown field(s) {', '.join(unknown)}")
    return body


def dataset_lookup(value: object, field: str) -> Dataset:
    """A dataset by id (an integer) or name; EngineError naming `field` when there is none."""
    found = Dataset.objects.filter(**({"id": value} if isinstance(value, int)
                                      else {"name": str(value)})).first()
    if found is None:
        raise EngineError(f"{field}: no dataset {value!r} (give its id or name)")
    return found


def is_json_int(value: object) -> bool:
    """JSON integers only: bool is an int subclass in Python, but `true` is not a scale."""
    return isinstance(value, int) and not isinstance(value, bool)


@staff_token
@api_methods("GET", "POST")
def datasets(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return JsonResponse({"datasets": [dataset_payload(d) for d in Dataset.objects.all()]})
    is_json = request.content_type == "application/json"
    try:
        data = json_body(request) if is_json else request.POST
        name = str(data.get("name") or "")
        if not is_json and "archive" in request.FILES:
            dataset = dataset_create_from_archive(owner=request.user, name=name,
                                                  archive=request.FILES["archive"],
                                                  strict=_flag(data.get("strict"), "strict"))
            return JsonResponse({**dataset_payload(dataset), "skipped": dataset.skipped},
                                status=201)
        if data.get("folder"):
            dataset = dataset_register_folder(owner=request.user, name=name,
                                              folder=str(data["folder"]))
        else:
            return api_error(400, "give a multipart file 'archive' or a 'folder' path")
    except (ArchiveRejected, EngineError) as exc:
        return api_error(400, str(exc))
    return JsonResponse(dataset_payload(dataset), status=201)


def _flag(value: str | None, field: str) -> bool:
    """A multipart yes/no field (absent is no); EngineError naming `field` otherwise."""
    raw = (value or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise EngineError(f"{field}: give true or false, not {value!r}")


@staff_token
@api_methods("GET", "POST")
def training_jobs(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return JsonResponse({"training_jobs": [run_payload(r) for r in run_list()[:50]]})
    try:
        body = json_body(request, fields=TRAINING_JOB_FIELDS)
        if not isinstance(body.get("arch"), str) or not is_json_int(body.get("scale")):
            raise EngineError("arch (string) and scale (integer) are required")
        overrides = body.get("overrides") or {}
        if not isinstance(overrides, dict):
            raise EngineError("overrides: expected an object")
        val = body.get("val_dataset")
        run = training_run_create(
            owner=request.user, arch=body["arch"], scale=body["scale"],
            train_dataset=dataset_lookup(body.get("train_dataset"), "train_dataset"),
            val_dataset=dataset_lookup(val, "val_dataset") if val is not None else None,
            recipe=str(body.get("recipe") or ""), overrides=overrides,
            queue=body.get("queue"), name=str(body.get("name") or ""))
    except EngineError as exc:
        return api_error(400, str(exc))
    url = request.build_absolute_uri(reverse("api_training_job", args=[run.id]))
    return JsonResponse({"id": str(run.id), "job": str(run.job_id), "status": "queued",
                         "url": url}, status=201)


def _run_or_error(run_id: uuid.UUID):
    run = run_get(run_id)
    return run, (api_error(404, "no such training job") if run is None else None)


@staff_token
@api_methods("GET")
def training_job(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    run, error = _run_or_error(run_id)
    return error or JsonResponse(run_payload(run))


@staff_token
@api_methods("POST")
def training_job_action(request: HttpRequest, run_id: uuid.UUID, action: str) -> HttpResponse:
    run, error = _run_or_error(run_id)
    if error:
        return error
    try:
        if action == "cancel":
            run = training_run_cancel(run=run)
        elif action == "resume":
            run = training_run_resume(run=run, user=request.user)
        elif action == "promote":
            body = json_body(request)
            model = model_promote(run=run, user=request.user, name=str(body.get("name", "")),
                                  which=str(body.get("which", "best")))
            return JsonResponse({"model": model.name, "arch": model.arch, "scale": model.scale,
                                 "step": model.step, "metrics": model.metrics}, status=201)
        else:
            return api_error(404, f"no action {action!r}")
    except EngineError as exc:
        return api_error(400, str(exc))
    return JsonResponse(run_payload(run))
