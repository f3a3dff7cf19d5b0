"""Crafted requests from a logged-in (staff) user answer 4xx or a redirect, never 5xx: ids
that overflow the database's integers, traversal in file routes, odd bytes in tokens."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from webapp.api.tokens import token_create

pytestmark = pytest.mark.django_db
ZERO = "00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize("path", [
    "/galleries/99999999999999999999999/", "/galleries/99999999999999999999999/delete",
    "/training/datasets/99999999999999999999/", "/training/datasets/1/thumb/99999999999999999999",
    "/training/datasets/99999999999999999999/preview/lr.png", "/s/%ff%fe/",
    "/s/" + "a" * 3000 + "/", f"/uploads/{ZERO}/%2e%2e", f"/jobs/{ZERO}/file/..%2f..%2fsecret",
    "/training/models/x/delete", f"/training/runs/{ZERO}/sample/..%2fx.png",
    f"/jobs/{ZERO}/retry",
])
@pytest.mark.parametrize("method", ["get", "post"])
def test_crafted_paths_never_answer_5xx(staff_client, path, method):
    assert getattr(staff_client, method)(path).status_code < 500


@pytest.mark.parametrize("fields", [
    {"scale": str(10**30)}, {"scale": "-1"}, {"model": "bicubic\x00"}, {"format": "x" * 5000},
    {"model": "../../../etc/passwd"},
])
def test_crafted_api_job_fields_are_400(client, user, make_image, fields):
    data = {"model": "bicubic", "scale": "2", **fields,
            "image": SimpleUploadedFile("a.png", make_image(8, 8))}
    response = client.post("/api/v1/jobs", data,
                           HTTP_AUTHORIZATION=f"Bearer {token_create(user=user)}")
    assert response.status_code == 400 and response.json()["error"]


def test_out_of_range_numbers_in_forms_are_4xx(client, user, done_result):
    client.force_login(user)
    added = client.post(f"/jobs/{done_result.job_id}/add-to-gallery", {"gallery": str(10**30)})
    assert added.status_code in (302, 400, 404)
    gallery = client.post(f"/jobs/{done_result.job_id}/add-to-gallery", {"title": "g"})
    gallery_id = gallery.url.rstrip("/").rsplit("/", 1)[-1]
    shared = client.post(f"/galleries/{gallery_id}/share", {"expires_in_days": str(10**30)})
    assert shared.status_code < 500


def test_out_of_range_numbers_in_the_staff_api_are_400(client, staff):
    token = token_create(user=staff)
    for path, body in (("/api/v1/evaluations", {"model": "bicubic", "scale": 10**30,
                                                "datasets": [10**30]}),
                       ("/api/v1/training-jobs", {"arch": "espcn", "scale": 2,
                                                  "train_dataset": 10**30})):
        response = client.post(path, body, content_type="application/json",
                               HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 400, (path, response.content)
