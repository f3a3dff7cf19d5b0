"""API authentication, models, schema and request validation (no worker needed)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from webapp.api.models import ApiToken
from webapp.api.tokens import token_create
from webapp.images.models import Result, Upload
from webapp.jobs.models import Job, JobStatus

pytestmark = pytest.mark.django_db


def _auth(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_create_api_token_prints_a_working_token(client, user):
    out = io.StringIO()
    call_command("create_api_token", "alice", stdout=out)
    token = out.getvalue().strip()
    assert token.startswith("srs_") and len(token) > 40
    response = client.get(reverse("api_models"), **_auth(token))
    assert response.status_code == 200
    with pytest.raises(CommandError, match="no user named"):
        call_command("create_api_token", "nobody")


def test_a_tokens_last_use_is_written_at_most_once_a_minute(client, user):
    token = token_create(user=user)
    assert client.get(reverse("api_models"), **_auth(token)).status_code == 200
    row = ApiToken.objects.get(user=user)
    first = row.last_used_at
    assert first is not None
    assert client.get(reverse("api_models"), **_auth(token)).status_code == 200
    assert ApiToken.objects.get(id=row.id).last_used_at == first
    ApiToken.objects.filter(id=row.id).update(last_used_at=first - timedelta(minutes=2))
    assert client.get(reverse("api_models"), **_auth(token)).status_code == 200
    assert ApiToken.objects.get(id=row.id).last_used_at > first


def test_revoke_api_token_by_prefix_or_all(client, user):
    first, second = token_create(user=user, name="ci"), token_create(user=user)
    listed = io.StringIO()
    call_command("revoke_api_token", "alice", "--list", stdout=listed)
    assert first[:10] in listed.getvalue() and second[:10] in listed.getvalue()
    call_command("revoke_api_token", "alice", first[:10], stdout=io.StringIO())
    assert client.get(reverse("api_models"), **_auth(first)).status_code == 401
    assert client.get(reverse("api_models"), **_auth(second)).status_code == 200
    out = io.StringIO()
    call_command("revoke_api_token", "alice", stdout=out)
    assert "revoked 1 token" in out.getvalue()
    assert client.get(reverse("api_models"), **_auth(second)).status_code == 401
    with pytest.raises(CommandError, match="no active token"):
        call_command("revoke_api_token", "alice", first[:10])


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer "])
def test_requests_without_a_valid_token_get_401(client, user, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get(reverse("api_models"), **extra)
    assert response.status_code == 401 and "token" in response.json()["error"]


@pytest.mark.parametrize(("method", "name", "allowed"), [
    ("delete", "api_jobs", "GET, POST"), ("post", "api_models", "GET"),
    ("put", "api_training_jobs", "GET, POST"), ("get", "api_evaluations", "POST")])
def test_wrong_methods_get_a_json_405(client, staff, method, name, allowed):
    response = getattr(client, method)(reverse(name), **_auth(token_create(user=staff)))
    assert response.status_code == 405 and response["Allow"] == allowed
    assert response.json()["error"] == f"method {method.upper()} not allowed here; use {allowed}"


def test_the_public_schema_answers_a_post_with_json_not_a_csrf_page():
    response = Client(enforce_csrf_checks=True).post("/api/openapi.json")
    assert response.status_code == 405 and "not allowed" in response.json()["error"]


def test_models_lists_bicubic_and_checkpoints(client, user):
    models = client.get(reverse("api_models"), **_auth(token_create(user=user))).json()["models"]
    ids = {m["id"]: m for m in models}
    assert ids["bicubic"]["scales"] == [2, 3, 4, 8]
    assert ids["espcn_x2"]["scales"] == [2] and ids["espcn_x2"]["kind"] == "checkpoint"
    # A shipped checkpoint's label shows its validation figures beside its paper's.
    assert "Set5 psnr" in ids["srcnn_x2"]["label"] and "(paper 36.66 / 0.9542)" in \
        ids["srcnn_x2"]["label"]
    assert ids["srcnn_x2"]["description"].endswith("(paper 36.66 / 0.9542)")


def test_openapi_schema_describes_the_endpoints(client):
    schema = client.get("/api/openapi.json").json()
    assert schema["openapi"].startswith("3.1")
    assert {"/api/v1/jobs", "/api/v1/jobs/{id}", "/api/v1/models"} <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


@pytest.mark.parametrize(("data", "message"), [
    ({}, "image:"),
    ({"model": "nope", "scale": "2"}, "unknown model 'nope'"),
    ({"model": "espcn_x2", "scale": "4"}, "not x4"),
    ({"scale": "two"}, "scale: expected an integer"),
    ({"format": "gif"}, "format: expected one of"),
])
def test_bad_job_requests_get_400_with_a_reason(client, user, make_image, data, message):
    if data:
        data["image"] = io.BytesIO(make_image(8, 8))
        data["image"].name = "x.png"
    response = client.post(reverse("api_jobs"), data, **_auth(token_create(user=user)))
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_a_job_of_another_user_is_404(client, user, other_user, done_result):
    token = token_create(user=other_user)
    assert client.get(reverse("api_job", args=[done_result.job_id]),
                      **_auth(token)).status_code == 404
    mine = client.get(reverse("api_job", args=[done_result.job_id]),
                      **_auth(token_create(user=user))).json()
    assert mine["status"] == "done" and mine["metrics"]["model"]["psnr_y"] == 30.0
    assert mine["output_url"].endswith(f"/api/v1/jobs/{done_result.job_id}/output")


def test_delete_a_job_and_with_the_last_one_its_image(client, user, other_user, done_result):
    twin = Result.objects.create(
        job=Job.objects.create(owner=user, kind="upscale", status=JobStatus.RUNNING),
        upload=done_result.upload, model="bicubic", scale=2)
    mine, theirs = _auth(token_create(user=user)), _auth(token_create(user=other_user))
    url = reverse("api_job", args=[done_result.job_id])
    assert client.delete(url, **theirs).status_code == 404
    response = client.delete(reverse("api_job", args=[twin.job_id]), **mine)
    assert response.status_code == 409 and "cancel it" in response.json()["error"]
    assert client.delete(url, **mine).status_code == 204
    assert client.get(url, **mine).status_code == 404
    assert Upload.objects.filter(id=done_result.upload_id).exists()  # the twin still uses it
    Job.objects.filter(id=twin.job_id).update(status=JobStatus.CANCELLED)
    assert client.delete(reverse("api_job", args=[twin.job_id]), **mine).status_code == 204
    assert not Upload.objects.filter(id=done_result.upload_id).exists()
