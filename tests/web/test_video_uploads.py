"""Video uploads without a worker: each deployment limit and each bad file is a 400 with a clear
reason before anything is stored or queued; a good clip is probed, stored and queued with its
engine configs; the API reports a video job's frames; media files answer byte ranges."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.urls import reverse
from PIL import Image

from sr_engine.checkpoint import CheckpointMeta, save_checkpoint
from sr_engine.progress import ProgressEvent
from sr_engine.registry import create_model
from sr_engine.video.parts import Parts, Segment
from tests.web.clips import clip_bytes
from webapp.api.tokens import token_create
from webapp.checks import check_services
from webapp.images.models import Upload
from webapp.images.ranges import parse_range
from webapp.images.video_progress import FrameProgress
from webapp.jobs.models import Job, JobStatus

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def clip() -> bytes:
    """64x48, 10 fps, 2 s (20 frames), with a sine-wave AAC track."""
    return clip_bytes()


def _post(client, user, data: bytes, name: str = "clip.mp4", **fields):
    upload = io.BytesIO(data)
    upload.name = name
    return client.post(reverse("api_jobs"), {"video": upload, "scale": "2", **fields},
                       HTTP_AUTHORIZATION=f"Bearer {token_create(user=user)}")


def _stored(media_root: Path, user) -> list[Path]:
    return sorted((media_root / f"u{user.pk}" / "uploads").glob("*/*"))


@pytest.mark.parametrize(("setting", "value", "reason"), [
    ("SR_MAX_VIDEO_BYTES", 2048, r"^[\d,]+ bytes is over the 2,048 byte limit for videos$"),
    ("SR_MAX_VIDEO_SECONDS", 1, r"^2\.0 s long; the limit is 1 s$"),
    ("SR_MAX_VIDEO_FRAMES", 10, r"^20 frames; the limit is 10$"),
    ("SR_MAX_VIDEO_PIXELS", 1000, r"^64x48 frames are over the 1,000-pixel limit$"),
    ("SR_MAX_VIDEO_OUTPUT_PIXELS", 10_000, r"^x2 of a 64x48 video makes frames of 128x96 "
                                           r"\(12,288 pixels\); the limit is 10,000 pixels"),
])
def test_each_video_limit_is_a_400_before_anything_is_kept(client, user, clip, settings,
                                                          media_root, setting, value, reason):
    before = _stored(media_root, user)
    setattr(settings, setting, value)
    response = _post(client, user, clip)
    assert response.status_code == 400
    assert re.search(reason, response.json()["error"]), response.json()
    assert not Upload.objects.exists() and not Job.objects.exists()
    assert _stored(media_root, user) == before


def test_a_huge_declared_resolution_is_refused_at_upload(client, user, media_root):
    huge = clip_bytes(4096, 2304, seconds=0.1, audio=False)  # one flat-ish 4K frame
    response = _post(client, user, huge, name="huge.mkv")
    assert response.status_code == 400
    assert response.json()["error"] == "4096x2304 frames are over the 2,073,600-pixel limit"
    assert not Upload.objects.exists()


@pytest.mark.parametrize(("make", "reason"), [
    (lambda clip: b"hello, not a clip", "cannot open as a video"),
    (lambda clip: clip[: len(clip) // 3], "cannot open as a video"),
    (lambda clip: clip_bytes(video=False), "no video stream"),
], ids=["not-a-video", "truncated", "audio-only"])
def test_bad_clips_are_a_400_with_the_engines_reason(client, user, clip, media_root, make,
                                                     reason):
    before = _stored(media_root, user)
    response = _post(client, user, make(clip), name="holiday.mp4")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith(reason) and ".part" not in error, error  # never the temp name
    assert not Upload.objects.exists() and not Job.objects.exists()
    assert _stored(media_root, user) == before


def test_the_upload_form_names_a_refused_clip_beside_a_good_image(client, user, clip,
                                                                 make_image, settings):
    settings.SR_MAX_VIDEO_SECONDS = 1
    client.force_login(user)
    video, image = io.BytesIO(clip), io.BytesIO(make_image(16, 12))
    video.name, image.name = "long.mov", "small.png"
    page = client.post(reverse("upload"), {"images": [video, image], "models": ["bicubic"],
                                           "scale": "2"})
    assert page.status_code == 200
    assert "<strong>long.mov</strong>: 2.0 s long; the limit is 1 s" in page.content.decode()
    assert list(Upload.objects.values_list("name", "media")) == [("small.png", "image")]


def test_a_clip_is_probed_stored_and_queued_with_its_video_config(client, user, clip):
    response = _post(client, user, clip, model="espcn_x2", crf="23")
    assert response.status_code == 201, response.content
    job = Job.objects.get(id=response.json()["id"])
    upload = job.image_result.upload
    assert (upload.media, upload.format, upload.width, upload.height) == ("video", "MP4", 64, 48)
    assert upload.video["frames"] == 20 and upload.video["fps"] == 10.0
    assert "audio aac: copied into the output as it is" in upload.notes
    assert upload.thumbnail.name.endswith("thumb.jpg") and Path(upload.thumbnail.path).is_file()
    assert job.kind == "upscale" and job.params["scale"] == 2
    assert job.params["video"]["codec"] == "h264" and job.params["video"]["crf"] == 23
    body = client.get(reverse("api_job", args=[job.id]),
                      HTTP_AUTHORIZATION=f"Bearer {token_create(user=user)}").json()
    assert body["media"] == "video"
    assert body["frames"] == {"done": 0, "total": 20, "fps": None, "eta_s": None,
                              "resumed": None}


@pytest.mark.parametrize(("name", "fields", "reason"), [
    ("clip.webm", {"codec": "h264"}, "codec: a WEBM file holds vp9 or av1, not h264"),
    ("clip.mp4", {"codec": "mpeg2"}, "codec: expected one of h264, h265, vp9, av1, got 'mpeg2'"),
    ("clip.mp4", {"crf": "99"}, "crf: must be 0..63, got 99"),
    ("clip.mp4", {"crf": "high"}, "crf: expected an integer, got 'high'"),
    ("clip.mp4", {"format": "png"}, "format: applies to images"),
])
def test_bad_video_options_are_a_400(client, user, name, fields, reason):
    data = clip_bytes(fmt="webm", audio=False) if name.endswith(".webm") else clip_bytes()
    response = _post(client, user, data, name=name, **fields)
    assert response.status_code == 400 and response.json()["error"].startswith(reason), \
        response.json()
    assert not Job.objects.exists()


def test_a_running_video_jobs_frames_fps_and_eta_are_in_the_api(client, user, clip):
    job_id = _post(client, user, clip).json()["id"]
    event = ProgressEvent(stage="encoding", current=7, total=20, message="frame 7/20",
                          metrics={"fps": 3.5, "preview": 1.0}, eta_s=3.7)
    Job.objects.filter(id=job_id).update(status=JobStatus.RUNNING, progress=event.to_dict())
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token_create(user=user)}"}
    body = client.get(reverse("api_job", args=[job_id]), **auth).json()
    assert body["frames"] == {"done": 7, "total": 20, "fps": 3.5, "eta_s": 3.7,
                              "resumed": None}
    listed = client.get(reverse("api_jobs"), **auth).json()["jobs"]
    assert listed[0]["frames"]["done"] == 7
    schema = client.get(reverse("openapi")).json()
    assert "Frames" in schema["components"]["schemas"]
    posted = schema["paths"]["/api/v1/jobs"]["post"]["requestBody"]["content"]
    assert {"video", "codec", "crf"} <= set(posted["multipart/form-data"]["schema"]["properties"])


@pytest.mark.parametrize(("header", "size", "span"), [
    ("bytes=0-99", 1000, (0, 99)), ("bytes=900-", 1000, (900, 999)),
    ("bytes=-100", 1000, (900, 999)), ("bytes=990-2000", 1000, (990, 999)),
    ("bytes=0-1,5-9", 1000, None), ("items=0-1", 1000, None)])
def test_byte_ranges_are_parsed(header, size, span):
    assert parse_range(header, size) == span


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5-2", "bytes=-0"])
def test_unsatisfiable_ranges_are_refused(header):
    with pytest.raises(ValueError):
        parse_range(header, 1000)


def test_an_uploaded_clip_is_served_in_ranges(client, user, clip):
    job_id = _post(client, user, clip).json()["id"]
    upload = Job.objects.get(id=job_id).image_result.upload
    client.force_login(user)
    url = reverse("upload_file", args=[upload.id, "original"])
    whole = client.get(url)
    assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes"
    part = client.get(url, HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 100-199/{len(clip)}"
    assert b"".join(part.streaming_content) == clip[100:200]
    assert part["Content-Disposition"] == whole["Content-Disposition"]
    refused = client.get(url, HTTP_RANGE=f"bytes={len(clip)}-")
    assert refused.status_code == 416 and refused["Content-Range"] == f"bytes */{len(clip)}"


def test_frame_progress_adds_fps_eta_and_the_newest_segments_frame(tmp_path):
    parts, preview = tmp_path / "parts", tmp_path / "frame.jpg"
    parts.mkdir()
    sent: list[ProgressEvent] = []
    now = [0.0]
    watcher = FrameProgress(sent.append, parts=parts, preview=preview, every=5,
                            clock=lambda: now[0])

    def frame(i: int) -> None:
        now[0] = i * 0.5  # two frames a second
        watcher(ProgressEvent(stage="encoding", current=i, total=40))

    for i in range(1, 12):
        frame(i)
    assert sent[-1].metrics["fps"] == pytest.approx(2.0) and "preview" not in sent[-1].metrics
    assert sent[-1].eta_s == pytest.approx((40 - 11) / 2.0)  # the engine sent none
    (parts / "segment-00000.mp4").write_bytes(clip_bytes(128, 96, seconds=0.3, audio=False))
    Parts(parts, "k").add(Segment("segment-00000.mp4", first_pts=0, last_pts=2, frames=3))
    frame(12)  # until the first preview the folder is looked at every half second
    stamp = sent[-1].metrics["preview"]
    assert preview.is_file() and preview.read_bytes()[:2] == b"\xff\xd8"  # a JPEG
    watcher(ProgressEvent(stage="saving", message="joining"))
    assert sent[-1].metrics == {}  # other stages pass as they are
    for i in range(13, 40):
        frame(i)
    assert sent[-1].metrics["preview"] == stamp  # no newer segment: the same frame


def test_a_video_limit_over_the_request_limit_is_a_deploy_warning(settings):
    settings.SR_MAX_VIDEO_BYTES = settings.SR_MAX_REQUEST_BYTES + 1
    assert "sr_studio.W004" in [w.id for w in check_services()]
    settings.SR_MAX_VIDEO_BYTES = settings.SR_MAX_REQUEST_BYTES
    assert "sr_studio.W004" not in [w.id for w in check_services()]


def test_a_video_model_is_offered_for_videos_only(client, user, clip, tmp_path, monkeypatch):
    weights = tmp_path / "weights"
    weights.mkdir()
    model = create_model("vespcn", scale=2, layers=3, features=8)
    save_checkpoint(weights / "vespcn_x2.safetensors", model,
                    CheckpointMeta.for_arch("vespcn", scale=2, hparams={"layers": 3,
                                                                       "features": 8}))
    monkeypatch.setenv("SR_ENGINE_WEIGHTS", str(weights))
    listed = client.get(reverse("api_models"),
                        HTTP_AUTHORIZATION=f"Bearer {token_create(user=user)}").json()
    assert {"id": "vespcn_x2", "video_only": True}.items() <= next(
        m for m in listed["models"] if m["id"] == "vespcn_x2").items()
    image = io.BytesIO(_png())
    image.name = "photo.png"
    refused = client.post(reverse("api_jobs"), {"image": image, "scale": "2",
                                                "model": "vespcn_x2"},
                          HTTP_AUTHORIZATION=f"Bearer {token_create(user=user)}")
    assert refused.status_code == 400
    assert "is a video model: it upscales videos only" in refused.json()["error"]
    assert _post(client, user, clip, model="vespcn_x2").status_code == 201


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (24, 16), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()
