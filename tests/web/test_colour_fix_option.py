"""The colour fix option (UpscaleConfig.color_fix) from the upload form and the JSON API to
the queued job's engine config, without a worker: default auto, each mode kept, a bad value
a 400 with a reason (API) or a form error (page) before anything is stored."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse

from sr_engine.inference import UpscaleConfig
from webapp.api.tokens import token_create
from webapp.images.models import Upload
from webapp.jobs.models import Job

pytestmark = pytest.mark.django_db


def _image(make_image) -> io.BytesIO:
    image = io.BytesIO(make_image(12, 10))
    image.name = "small.png"
    return image


def _api_post(client, user, make_image, **fields):
    return client.post(reverse("api_jobs"), {"image": _image(make_image), "scale": "2",
                                             **fields},
                       HTTP_AUTHORIZATION=f"Bearer {token_create(user=user)}")


@pytest.mark.parametrize(("fields", "expected"), [
    ({}, "auto"), ({"color_fix": ""}, "auto"), ({"color_fix": "hist"}, "hist"),
    ({"color_fix": "meanstd"}, "meanstd"), ({"color_fix": "none"}, "none")])
def test_the_api_queues_the_colour_fix_asked_for(client, user, make_image, fields, expected):
    response = _api_post(client, user, make_image, **fields)
    assert response.status_code == 201, response.content
    job = Job.objects.get(id=response.json()["id"])
    assert job.params["color_fix"] == expected
    assert UpscaleConfig.from_dict(job.params).color_fix == expected  # what the worker runs


def test_a_bad_colour_fix_is_a_400_and_stores_nothing(client, user, make_image):
    response = _api_post(client, user, make_image, color_fix="sepia")
    assert response.status_code == 400
    assert response.json()["error"] == ("color_fix: expected one of auto, hist, meanstd, none, "
                                        "got 'sepia'")
    assert not Upload.objects.exists() and not Job.objects.exists()


def test_the_schema_lists_the_colour_fixes(client):
    schema = client.get("/api/openapi.json").json()
    post = schema["paths"]["/api/v1/jobs"]["post"]
    prop = post["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert prop["color_fix"]["enum"] == ["auto", "hist", "meanstd", "none"]
    assert prop["color_fix"]["default"] == "auto"


def test_the_upload_form_offers_the_colour_fix_and_queues_it(client, user, make_image):
    client.force_login(user)
    page = client.get(reverse("upload")).content.decode()
    assert "Colour fix: keep the input&#x27;s colours" in page
    assert '<option value="auto" selected>' in page
    response = client.post(reverse("upload"), {"images": [_image(make_image)],
                                               "models": ["bicubic"], "scale": "2",
                                               "color_fix": "meanstd"})
    assert response.status_code == 302
    assert Job.objects.get().params["color_fix"] == "meanstd"


def test_the_upload_form_defaults_to_auto_and_refuses_a_bad_value(client, user, make_image):
    client.force_login(user)
    response = client.post(reverse("upload"), {"images": [_image(make_image)],
                                               "models": ["bicubic"], "scale": "2"})
    assert response.status_code == 302
    assert Job.objects.get().params["color_fix"] == "auto"
    response = client.post(reverse("upload"), {"images": [_image(make_image)],
                                               "models": ["bicubic"], "scale": "2",
                                               "color_fix": "sepia"})
    assert response.status_code == 400
    assert "Select a valid choice. sepia is not one of the available choices." in \
        response.content.decode()
    assert Job.objects.count() == 1
