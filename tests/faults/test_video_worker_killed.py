"""A worker killed mid-video: the job's rerun (jobs.recovery) resumes after the last segment
the killed run finished, not at frame 0, and ends with every frame and the audio."""

from __future__ import annotations

import io
import time

import av
import pytest

from tests.faults.studio import STUCK_AFTER, TERMINAL, Studio, pool_child
from tests.web.clips import clip_bytes, frame_count

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]
FRAMES = 60


def _wait(studio: Studio, job_id: str, ready: object, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while not ready(job := studio.job(job_id)):
        assert job["status"] not in TERMINAL, job
        assert time.monotonic() < deadline, (job, studio.tail())
        time.sleep(0.05)
    return job


def test_a_worker_killed_mid_video_resumes_after_its_last_segment(studio):
    # 160x128 in the studio's 16 px tiles: seconds of work, with a segment kept every second.
    response = studio.submit(clip_bytes(160, 128, seconds=FRAMES / 10), model="espcn_x2",
                             name="walk.mp4")
    assert response.status == 201, response.body
    job_id = response.json()["id"]
    media = studio.data_dir / "media"
    # Killed once a segment is finished (the manifest lists it), however fast the frames go.
    _wait(studio, job_id, lambda job: job["frames"]["done"] >= 20
          and any(media.glob(f"u*/results/{job_id}/parts/manifest.json")), timeout=120)
    pool_child(studio).kill()  # SIGKILL: nothing of the run gets to clean up

    rerun = _wait(studio, job_id, lambda job: job["attempts"] == 2 and job["status"] ==
                  "running" and job["progress"]["stage"] == "encoding",
                  timeout=STUCK_AFTER + 60)
    first_seen = rerun["frames"]["done"]
    job = studio.wait_status(job_id, TERMINAL, timeout=STUCK_AFTER + 120)
    assert job["status"] == "done" and job["attempts"] == 2, job
    frames = job["frames"]
    assert frames["done"] == frames["total"] == job["output"]["frames"] == FRAMES
    # The rerun counted on from the kept segments' frames, not from 1.
    assert 0 < frames["resumed"] < FRAMES and first_seen > frames["resumed"], (frames,
                                                                            first_seen)
    output = studio.get(f"/api/v1/jobs/{job_id}/output")
    assert output.status == 200 and frame_count(output.body) == FRAMES
    with av.open(io.BytesIO(output.body)) as clip:
        assert [s.type for s in clip.streams] == ["video", "audio"]
    folder = next(media.glob(f"u*/results/{job_id}"))
    assert sorted(p.name for p in folder.iterdir()) == ["frame.jpg", "output.mp4"]
