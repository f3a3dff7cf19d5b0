"""Per-user limits answer 429 with a clear message (JSON on the API, a page elsewhere), a
broker outage 503 with Retry-After, and nothing is stored for a refused submission."""

from __future__ import annotations

import io
import re
import sqlite3

import pytest
from django.db import connection
from django.urls import reverse

from webapp.api.tokens import token_create
from webapp.images.models import Upload
from webapp.jobs.models import Job

pytestmark = pytest.mark.django_db


def _post(client, user, make_image, token: str = "", **extra):
    image = io.BytesIO(make_image(16, 12))
    image.name = "a.png"
    return client.post(reverse("api_jobs"), {"image": image, "scale": "2"},
                       HTTP_AUTHORIZATION=f"Bearer {token or token_create(user=user)}", **extra)


def test_stored_bytes_over_the_user_limit_are_429(client, user, make_image, settings,
                                                  media_root):
    settings.SR_USER_MAX_BYTES = 1024
    folder = media_root / f"u{user.pk}" / "uploads" / "old"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "big.png").write_bytes(b"\0" * 2000)
    response = _post(client, user, make_image)
    assert response.status_code == 429 and response["Retry-After"]
    # At least the 2,000 bytes above (the session's media dir may hold more of this user id).
    assert re.match(r"your files take [\d,]{5,} bytes and the limit is 1,024; delete",
                    response.json()["error"])
    assert not Upload.objects.exists() and not Job.objects.exists()
    client.force_login(user)
    image = io.BytesIO(make_image(16, 12))
    image.name = "a.png"
    page = client.post(reverse("upload"), {"images": image, "models": "bicubic", "scale": "2"})
    assert page.status_code == 429 and "limit is 1,024" in page.content.decode()


def test_a_broker_outage_is_503_and_saves_nothing(client, user, make_image, settings,
                                                   tmp_path):
    settings.REDIS_URL = f"unix://{tmp_path / 'no-redis.sock'}"
    response = _post(client, user, make_image)
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert "not reachable" in response.json()["error"]
    assert not Upload.objects.exists() and not Job.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_database_lock_held_elsewhere_is_503_and_saves_nothing(client, user, make_image):
    # A frozen process holding SQLite's one write lock (a SIGSTOPped worker mid-update):
    # the request waits the lock timeout and is told to retry, not handed a 500.
    token = token_create(user=user)
    connection.ensure_connection()
    connection.connection.execute("PRAGMA busy_timeout = 200")  # not the 20 s of settings
    holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        response = _post(client, user, make_image, token)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert response.json()["error"].startswith("the database is busy")
    assert not Upload.objects.exists() and not Job.objects.exists()
