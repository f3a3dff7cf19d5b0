"""Accounts, ownership and the gallery/share-link pages (results made directly in the DB)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from webapp.images.models import Gallery, ShareLink, Upload
from webapp.jobs.models import JobStatus

pytestmark = pytest.mark.django_db


def test_sign_up_log_in_log_out(client, settings):
    settings.SR_SIGNUP = "open"
    response = client.post(reverse("signup"), {"username": "bob", "password1": "a-long-pass-42",
                                               "password2": "a-long-pass-42"})
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("home")).status_code == 302
    assert client.login(username="bob", password="a-long-pass-42")


def test_pages_need_a_login(client, done_result):
    for url in (reverse("home"), reverse("upload"), reverse("job", args=[done_result.job_id]),
                reverse("result", args=[done_result.job_id]), reverse("gallery_list")):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login")


def test_another_users_things_are_404(client, other_user, done_result):
    gallery = Gallery.objects.create(owner=done_result.job.owner, title="mine")
    client.force_login(other_user)
    job_id, upload_id = done_result.job_id, done_result.upload_id
    for url in (reverse("job", args=[job_id]), reverse("job_status", args=[job_id]),
                reverse("result", args=[job_id]),
                reverse("result_file", args=[job_id, "output"]),
                reverse("upload_detail", args=[upload_id]),
                reverse("upload_file", args=[upload_id, "original"]),
                reverse("gallery_detail", args=[gallery.id])):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("job_cancel", args=[job_id])).status_code == 404
    assert client.post(reverse("gallery_add", args=[job_id])).status_code == 404
    assert client.post(reverse("upload_delete", args=[upload_id])).status_code == 404
    assert client.post(reverse("gallery_delete", args=[gallery.id])).status_code == 404
    assert Upload.objects.filter(id=upload_id).exists() and Gallery.objects.filter(id=gallery.id)


def test_result_page_shows_slider_metrics_and_files(client, user, done_result):
    client.force_login(user)
    page = client.get(reverse("result", args=[done_result.job_id])).content.decode()
    assert "data-compare" in page and "30.00" in page and "28.00" in page
    for which in ("output", "bicubic", "download"):
        response = client.get(reverse("result_file", args=[done_result.job_id, which]))
        assert response.status_code == 200
        assert b"".join(response.streaming_content).startswith(b"\x89PNG")


def test_gallery_share_link_works_logged_out_until_revoked(client, user, done_result):
    client.force_login(user)
    response = client.post(reverse("gallery_add", args=[done_result.job_id]),
                           {"gallery": "", "title": "Best of"})
    gallery = Gallery.objects.get(owner=user, title="Best of")
    assert response["Location"] == reverse("gallery_detail", args=[gallery.id])
    client.post(reverse("share_create", args=[gallery.id]), {"expires_in_days": ""})
    link = ShareLink.objects.get(gallery=gallery)
    assert len(link.token) >= 40
    client.logout()

    shared = client.get(reverse("shared", args=[link.token]))
    assert shared.status_code == 200 and "cat.png" in shared.content.decode()
    assert "Remove" not in shared.content.decode()  # read-only
    file_url = reverse("shared_file", args=[link.token, done_result.job_id, "output"])
    assert client.get(file_url).status_code == 200

    client.force_login(user)
    client.post(reverse("share_revoke", args=[gallery.id, link.id]))
    client.logout()
    assert client.get(reverse("shared", args=[link.token])).status_code == 404
    assert client.get(file_url).status_code == 404


def test_expired_and_unknown_links_are_404(client, user, done_result):
    gallery = Gallery.objects.create(owner=user, title="old")
    link = ShareLink.objects.create(gallery=gallery, token="t" * 43,
                                    expires_at=timezone.now() - timedelta(minutes=1))
    assert client.get(reverse("shared", args=[link.token])).status_code == 404
    assert client.get(reverse("shared", args=["nope"])).status_code == 404


def test_owner_can_remove_items(client, user, done_result):
    client.force_login(user)
    client.post(reverse("gallery_add", args=[done_result.job_id]), {"title": "G"})
    gallery = Gallery.objects.get(title="G")
    assert gallery.items.count() == 1
    client.post(reverse("gallery_remove", args=[gallery.id, done_result.job_id]))
    assert gallery.items.count() == 0


def test_an_unfinished_result_cannot_join_a_gallery(client, user, done_result):
    done_result.job.status = "running"
    done_result.job.save()
    client.force_login(user)
    client.post(reverse("gallery_add", args=[done_result.job_id]), {"title": "G"})
    assert not Gallery.objects.filter(title="G").exists()


def test_an_upload_with_a_running_upscale_is_not_deleted(client, user, done_result):
    done_result.job.status = JobStatus.RUNNING
    done_result.job.save()
    client.force_login(user)
    response = client.post(reverse("upload_delete", args=[done_result.upload_id]))
    assert response.status_code == 409 and "cancel it or wait" in response.content.decode()
    assert Upload.objects.filter(id=done_result.upload_id).exists()


def test_deleting_a_gallery_ends_its_links_and_keeps_the_results(client, user, done_result):
    client.force_login(user)
    client.post(reverse("gallery_add", args=[done_result.job_id]), {"title": "G"})
    gallery = Gallery.objects.get(title="G")
    client.post(reverse("share_create", args=[gallery.id]), {"expires_in_days": ""})
    token = ShareLink.objects.get(gallery=gallery).token
    response = client.post(reverse("gallery_delete", args=[gallery.id]))
    assert response["Location"] == reverse("gallery_list")
    assert client.get(reverse("shared", args=[token])).status_code == 404
    assert client.get(reverse("result", args=[done_result.job_id])).status_code == 200


def test_a_failed_job_has_a_retry_button_that_queues_it_again(client, user, done_result,
                                                               django_capture_on_commit_callbacks):
    job = done_result.job
    job.status, job.error = JobStatus.FAILED, "boom"
    job.save()
    client.force_login(user)
    page = client.get(reverse("job", args=[job.id])).content.decode()
    assert 'data-field="retry"' in page and reverse("job_retry", args=[job.id]) in page
    with django_capture_on_commit_callbacks() as published:
        response = client.post(reverse("job_retry", args=[job.id]))
    assert response.status_code == 302 and len(published) == 1
    job.refresh_from_db()
    assert (job.status, job.error) == (JobStatus.QUEUED, "")
    again = client.post(reverse("job_retry", args=[job.id]), follow=True)
    assert "only a failed or cancelled job can be retried" in again.content.decode()
