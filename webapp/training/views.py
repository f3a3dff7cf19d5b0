"""Staff pages for training: studio index, new run, live run page (charts + samples),
cancel / resume / promote, and evaluations."""

from __future__ import annotations

import uuid
from pathlib import Path

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from sr_engine.errors import EngineError
from webapp.training.access import staff_required
from webapp.training.deletion import promoted_model_delete
from webapp.training.evaluation import evaluation_create
from webapp.training.forms import EvaluationForm, PromoteForm, TrainingRunForm
from webapp.training.models import Dataset, PromotedModel
from webapp.training.samples import SAMPLE_KINDS, samples_dir
from webapp.training.selectors import (
    eval_table,
    promoted_list,
    run_get,
    run_history,
    run_list,
    run_payload,
)
from webapp.training.services import (
    model_promote,
    training_run_cancel,
    training_run_create,
    training_run_resume,
)


def _run_or_404(run_id: uuid.UUID):
    run = run_get(run_id)
    if run is None:
        raise Http404("no such training run")
    return run


@staff_required
def studio(request: HttpRequest) -> HttpResponse:
    return render(request, "training/studio.html", {
        "runs": run_list()[:50], "datasets": Dataset.objects.all(),
        "promoted": promoted_list()})


@staff_required
def run_new(request: HttpRequest) -> HttpResponse:
    form = TrainingRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            run = training_run_create(
                owner=request.user, arch=data["arch"], scale=data["scale"],
                train_dataset=data["train_dataset"], val_dataset=data["val_dataset"],
                recipe=data["recipe"], overrides=form.overrides(), queue=data["queue"],
                name=data["name"])
        except EngineError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("training_run", run_id=run.id)
    return render(request, "training/run_new.html", {"form": form})


@staff_required
def run_page(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    run = _run_or_404(run_id)
    return render(request, "training/run.html", {
        "run": run, "payload": run_payload(run), "history": run_history(run),
        "promote": PromoteForm(initial={"name": run.name.lower()[:64]}),
        "sample_kinds": SAMPLE_KINDS})


@staff_required
@require_GET
def run_status(request: HttpRequest, run_id: uuid.UUID) -> JsonResponse:
    """The run and its whole history: what a page needs after a reload or reconnect."""
    run = _run_or_404(run_id)
    return JsonResponse({"run": run_payload(run), "history": run_history(run)})


@staff_required
@require_POST
def run_cancel(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    training_run_cancel(run=_run_or_404(run_id))
    return redirect("training_run", run_id=run_id)


@staff_required
@require_POST
def run_resume(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    try:
        training_run_resume(run=_run_or_404(run_id), user=request.user)
    except EngineError as exc:
        messages.error(request, str(exc))
    return redirect("training_run", run_id=run_id)


@staff_required
@require_POST
def run_promote(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    run = _run_or_404(run_id)
    form = PromoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"promote: {form.errors.as_text()}")
        return redirect("training_run", run_id=run_id)
    try:
        model = model_promote(run=run, user=request.user, **form.cleaned_data)
    except EngineError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"promoted as {model.name}: it is now in the upload "
                                  "page's model list")
    return redirect("training_run", run_id=run_id)


@staff_required
@require_GET
def run_sample(request: HttpRequest, run_id: uuid.UUID, kind: str) -> HttpResponse:
    path = samples_dir(_run_or_404(run_id)) / f"{kind}.png"
    if kind not in SAMPLE_KINDS or not Path(path).is_file():
        raise Http404("no sample yet")
    return FileResponse(open(path, "rb"), content_type="image/png")


@staff_required
def evaluations(request: HttpRequest) -> HttpResponse:
    form = EvaluationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job = evaluation_create(owner=request.user, model_id=data["model"],
                                    scale=data["scale"], datasets=list(data["datasets"]),
                                    queue=data["queue"])
        except EngineError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("job", job_id=job.id)
    return render(request, "training/evaluations.html", {"form": form, "table": eval_table()})


@staff_required
@require_POST
def promoted_remove(request: HttpRequest, name: str) -> HttpResponse:
    model = PromotedModel.objects.filter(name=name).first()
    if model is None:
        raise Http404("no such promoted model")
    try:
        promoted_model_delete(model=model)
    except EngineError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"model {name} deleted (its weights file too)")
    return redirect("training")
