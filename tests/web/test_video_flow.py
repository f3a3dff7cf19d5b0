"""Video jobs with the real worker, Redis and engine: a clip upscaled to a result page with both
players, a download with every frame and the audio, galleries and share links that show
videos as videos; live progress counts frames with fps and a preview frame; cancel."""

from __future__ import annotations

import io
import time
from pathlib import Path

import av
import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client, override_settings
from django.urls import reverse

from tests.web.clips import clip_bytes, frame_count
from webapp.api.tokens import token_create
from webapp.asgi import application
from webapp.images.models import GalleryItem, Result
from webapp.jobs.models import Job

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


def _post_clip(client, token: str, data: bytes, name: str = "clip.mp4", **fields) -> str:
    upload = io.BytesIO(data)
    upload.name = name
    response = client.post(reverse("api_jobs"), {"video": upload, **fields},
                           HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_a_clip_becomes_a_result_page_a_download_and_a_shared_video(worker, client, user,
                                                                    wait_job):
    token = token_create(user=user)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    job_id = _post_clip(client, token, clip_bytes(), model="espcn_x2", scale="2")
    job = wait_job(job_id)
    assert job.status == "done", job.error
    body = client.get(reverse("api_job", args=[job_id]), **auth).json()
    assert body["media"] == "video" and body["output"]["frames"] == 20
    frames = body["frames"]
    assert (frames["done"], frames["total"], frames["eta_s"], frames["resumed"]) == \
        (20, 20, 0.0, 0)
    assert frames["fps"] > 0
    download = client.get(body["output_url"], **auth)
    assert download["Content-Disposition"].endswith('clip_x2_espcn_x2.mp4"')
    data = _body(download)
    with av.open(io.BytesIO(data)) as out:
        assert (out.streams.video[0].width, out.streams.video[0].height) == (128, 96)
        assert [s.type for s in out.streams] == ["video", "audio"]  # the audio is kept
    assert frame_count(data) == 20

    client.force_login(user)
    page = client.get(reverse("result", args=[job_id])).content.decode()
    assert "data-vcompare" in page and page.count("<video") == 2 and "{#" not in page
    for which in ("input", "output", "poster"):
        assert reverse("result_file", args=[job_id, which]) in page
    assert "data-compare" in page and "<canvas" in page and "<img" not in page
    shown = client.get(reverse("result_file", args=[job_id, "output"]), HTTP_RANGE="bytes=0-9")
    assert shown.status_code == 206 and _body(shown) == data[:10]
    poster = client.get(reverse("result_file", args=[job_id, "poster"]))
    assert poster["Content-Type"] == "image/jpeg"
    folder = Path(Result.objects.get(job_id=job_id).output.path).parent
    assert sorted(p.name for p in folder.iterdir()) == ["frame.jpg", "output.mp4"]  # no parts

    client.post(reverse("gallery_add", args=[job_id]), {"title": "Clips"})
    gallery = GalleryItem.objects.get(result_id=job_id).gallery
    detail = client.get(reverse("gallery_detail", args=[gallery.id])).content.decode()
    assert "data-vcompare" in detail and "<img" not in detail
    client.post(reverse("share_create", args=[gallery.id]))
    token_url = reverse("shared", args=[gallery.links.get().token])
    visitor = Client()
    shared = visitor.get(token_url).content.decode()
    assert "data-vcompare" in shared and shared.count("<video") == 2 and "<img" not in shared
    link = gallery.links.get().token
    ranged = visitor.get(reverse("shared_file", args=[link, job_id, "output"]),
                         HTTP_RANGE="bytes=10-")
    assert ranged.status_code == 206 and _body(ranged) == data[10:]
    home = client.get(reverse("home")).content.decode()
    assert "MP4 video, 2.0 s" in home


def test_live_progress_counts_frames_with_fps_and_a_preview_then_cancel(worker, client, user,
                                                                        wait_job, media_root):
    token = token_create(user=user)
    # 80 tiles of 16 px a frame and a segment every second: many seconds of frames, a
    # preview frame (the worker looks every SR_VIDEO_PREVIEW_SECONDS, 5) well before the end.
    with override_settings(SR_TILE=16, SR_VIDEO_SEGMENT_SECONDS=1):
        job_id = _post_clip(client, token, clip_bytes(160, 128, seconds=12, audio=False),
                            model="espcn_x2", scale="2")

    async def listen() -> list[dict]:
        comm = WebsocketCommunicator(application, f"/ws/jobs/{job_id}/?token={token}")
        connected, _ = await comm.connect(timeout=10)
        assert connected
        seen = []
        while True:
            message = await comm.receive_json_from(timeout=120)
            if message["type"] == "keepalive":
                continue
            seen.append(message["job"])
            progress = message["job"]["progress"]
            if "preview" in progress.get("metrics", {}) or message["job"]["status"] != "running" \
                    and message["job"]["status"] != "queued":
                break
        await comm.disconnect()
        return seen

    seen = async_to_sync(listen)()
    last = seen[-1]
    assert last["status"] == "running", last  # a preview came before the clip was done
    encoding = [j["progress"] for j in seen if j["progress"]["stage"] == "encoding"]
    assert encoding and all(p["total"] == 120 for p in encoding)
    assert encoding[-1]["current"] > 0 and encoding[-1]["metrics"]["fps"] > 0
    client.force_login(user)
    frame = client.get(reverse("result_frame", args=[job_id]))
    assert frame.status_code == 200 and frame["Cache-Control"] == "no-store"
    job_page = client.get(reverse("job", args=[job_id])).content.decode()
    assert 'data-media="video"' in job_page and 'data-field="preview"' in job_page

    client.post(reverse("api_job_cancel", args=[job_id]), HTTP_AUTHORIZATION=f"Bearer {token}")
    job = wait_job(job_id)
    assert job.status == "cancelled"
    deadline = time.monotonic() + 10
    while list(media_root.glob(f"u{user.pk}/results/{job_id}*")):
        assert time.monotonic() < deadline, "the cancelled job's files stayed"
        time.sleep(0.1)
    assert not Job.objects.get(id=job_id).result
