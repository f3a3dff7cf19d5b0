"""A video in a real browser: upload a clip, watch its frames, fps and a preview frame arrive
live, open the result with the input and the upscale played in sync (play, pause, seek, speed,
frame steps, the before/after slider on the paused frame), download the upscaled clip, and
share it: a visitor's shared page plays both clips."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.clips import clip_bytes, frame_count

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PLAYERS = "[...document.querySelectorAll('[data-vcompare] video')]"


@pytest.fixture
def slow_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The web server (started after this: the test asks for it first) queues jobs that tile
    in 16 px and keep a segment every second: the clip takes long enough for its page to
    show frames arriving, and a preview frame comes after the first second."""
    monkeypatch.setenv("SR_TILE", "16")
    monkeypatch.setenv("SR_VIDEO_SEGMENT_SECONDS", "1")


@pytest.fixture
def erin(live_asgi, django_user_model):
    # Made before the browser starts (Django refuses ORM calls from Playwright's loop).
    return django_user_model.objects.create_user("erin", password="erin-pass-123")


def _times(page) -> list[float]:
    return page.evaluate(f"() => {PLAYERS}.map(v => v.currentTime)")


def test_a_clip_uploaded_watched_live_compared_in_sync_downloaded_and_shared(
        slow_jobs, live_asgi, erin, browser, login, tmp_path):
    clip = tmp_path / "walk.mp4"
    clip.write_bytes(clip_bytes(160, 128, seconds=5))  # 50 frames with a sine-wave track
    page = login(live_asgi, "erin", "erin-pass-123")
    page.goto(f"{live_asgi}/upload/")
    page.set_input_files("input[name=images]", str(clip))
    page.select_option("select[name=scale]", "2")
    page.uncheck("input[name=models][value=bicubic]")
    page.check("input[name=models][value=espcn_x2]")
    page.click("#upload-form button[type=submit]")
    page.wait_for_url("**/jobs/*/")

    # Live: frames counted out of 50, the rate, and an upscaled preview frame.
    page.wait_for_function("() => /^frame [1-9][0-9]*\\/50$/.test("
                           "document.querySelector('[data-field=count]').textContent)")
    page.wait_for_function("() => / fps$/.test("
                           "document.querySelector('[data-field=fps]').textContent)")
    page.wait_for_function("() => { const i = document.querySelector('[data-field=preview]');"
                           " return !i.hidden && i.complete && i.naturalWidth === 320; }")
    assert page.text_content("[data-field=status]") == "running"
    assert not page.locator("[data-field=result-link]").is_visible()  # not before it is done
    assert page.text_content("[data-field=eta]").startswith("ETA ")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-video-job.png"), full_page=True)
    page.wait_for_selector('[data-job][data-status="done"]', timeout=240_000)
    page.click("[data-field=result-link]")
    page.wait_for_url("**/result/")

    # Both players decode: the input at its size, the upscale at twice it.
    page.wait_for_function(f"() => {PLAYERS}.every(v => v.readyState >= 2)")
    assert page.evaluate(f"() => {PLAYERS}.map(v => [v.videoWidth, v.videoHeight])") == \
        [[160, 128], [320, 256]]
    page.wait_for_selector("[data-vcompare][data-frames=ready]")  # paused: the slider's frames
    assert page.evaluate("""() => [...document.querySelectorAll('[data-vcompare] canvas')]
        .map(c => [c.width, c.height, c.getContext('2d').getImageData(0, 0, c.width, c.height)
                   .data.some(v => v > 0)])""") == [[320, 256, True], [320, 256, True]]

    page.click("[data-v=play]")  # one button plays both
    page.wait_for_function(f"() => {PLAYERS}.every(v => !v.paused && v.currentTime > 1)")
    assert page.get_attribute("[data-vcompare]", "data-state") == "playing"
    page.click("[data-v=play]")  # and pauses both on the same frame
    page.wait_for_selector("[data-vcompare][data-frames=ready]")
    first, second = _times(page)
    assert first == pytest.approx(second, abs=1e-3) and first > 1

    page.evaluate("""() => { const s = document.querySelector('[data-v=seek]');
        s.value = 400; s.dispatchEvent(new Event('input')); }""")
    page.wait_for_selector("[data-vcompare][data-frames=ready]")
    assert _times(page) == pytest.approx([2.0, 2.0], abs=0.05)  # 0.4 of 5 s
    page.click("[data-v=next]")
    page.wait_for_selector("[data-vcompare][data-frames=ready]")
    assert _times(page) == pytest.approx([2.1, 2.1], abs=0.02)  # one frame at 10 fps
    page.select_option("[data-v=rate]", "0.5")
    assert page.evaluate(f"() => {PLAYERS}.map(v => v.playbackRate)") == [0.5, 0.5]
    page.screenshot(path=str(ARTIFACTS / "e2e-video-result.png"), full_page=True)

    with page.expect_download() as download:
        page.click("a.button:has-text('Download')")
    assert download.value.suggested_filename == "walk_x2_espcn_x2.mp4"
    assert frame_count(str(download.value.path())) == 50

    # Into a gallery, shared: a visitor with no session plays both clips there too.
    page.fill("#add-to-gallery input[name=title]", "Clips")
    page.click("#add-to-gallery button[type=submit]")
    page.wait_for_url("**/galleries/*/")
    page.click("text=Create share link")
    share_url = page.get_attribute("a.share-link", "href")
    visitor = browser.new_context().new_page()
    assert visitor.goto(f"{live_asgi}{share_url}").status == 200
    visitor.wait_for_function(f"() => {PLAYERS}.length === 2 && "
                              f"{PLAYERS}.every(v => v.readyState >= 2)")
    assert visitor.locator("img").count() == 0
    visitor.click("[data-v=play]")
    visitor.wait_for_function(f"() => {PLAYERS}.every(v => v.currentTime > 0.5)")
