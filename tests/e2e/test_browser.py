"""Real-browser walks through the product: log in, upload (picked and dropped files), watch
progress reach done, open the result, make a gallery, and open its share link logged out (with
a screenshot)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(240)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def erin(live_asgi, django_user_model):
    # Made before the browser starts: Playwright's sync API runs an event loop in this
    # thread, and Django refuses ORM calls from there.
    return django_user_model.objects.create_user("erin", password="erin-pass-123")


def test_upload_watch_result_gallery_share(live_asgi, erin, browser, login, tmp_path):
    image = tmp_path / "photo.png"
    yy, xx = np.mgrid[0:96, 0:128]
    rings = (np.sin(np.hypot(yy - 48, xx - 64) / 3.0) * 127 + 128).astype(np.uint8)
    Image.fromarray(np.stack([rings, (xx * 2).astype(np.uint8), (yy * 2).astype(np.uint8)],
                             axis=-1)).save(image)

    page = login(live_asgi, "erin", "erin-pass-123")
    page.goto(f"{live_asgi}/upload/")
    page.set_input_files("input[name=images]", str(image))
    page.select_option("select[name=scale]", "2")
    page.uncheck("input[name=models][value=bicubic]")
    page.check("input[name=models][value=espcn_x2]")
    page.click("#upload-form button[type=submit]")
    page.wait_for_url("**/jobs/*/")
    page.wait_for_selector('[data-job][data-status="done"]')
    assert page.text_content("[data-field=status]") == "done"
    page.reload()  # the snapshot on connect shows the final state at once
    assert page.text_content("[data-field=status]") == "done"
    page.wait_for_selector("[data-field=result-link]:not([hidden])")

    page.click("[data-field=result-link]")
    page.wait_for_url("**/result/")
    assert page.locator("[data-compare]").is_visible()
    assert page.locator("table.metrics").is_visible()
    page.fill("#add-to-gallery input[name=title]", "E2E picks")
    page.click("#add-to-gallery button[type=submit]")
    page.wait_for_url("**/galleries/*/")
    page.click("text=Create share link")
    share_url = page.get_attribute("a.share-link", "href")

    visitor = browser.new_context().new_page()  # a fresh context: no session cookie
    response = visitor.goto(f"{live_asgi}{share_url}")
    assert response.status == 200
    assert visitor.locator("h1").text_content() == "E2E picks"
    visitor.wait_for_function(
        "() => [...document.images].every(i => i.complete && i.naturalWidth === 256)")
    ARTIFACTS.mkdir(exist_ok=True)
    visitor.screenshot(path=str(ARTIFACTS / "e2e-shared-gallery.png"), full_page=True)
    assert visitor.locator("text=Log out").count() == 0


def test_job_page_falls_back_to_polling_without_a_websocket(live_asgi, erin, login, tmp_path):
    # Big enough (x4 to 1920x1440) that the job is still running when its page opens.
    image = tmp_path / "big.png"
    Image.new("RGB", (480, 360), "teal").save(image)
    page = login(live_asgi, "erin", "erin-pass-123")
    sockets = []

    def refuse(ws):  # every socket the page opens is closed at once
        sockets.append(ws.url)
        ws.close()

    page.route_web_socket("**/ws/jobs/**", refuse)
    page.goto(f"{live_asgi}/upload/")
    page.set_input_files("input[name=images]", str(image))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url("**/jobs/*/")
    page.wait_for_selector('[data-job][data-status="done"]')
    assert sockets, "the page never tried its websocket"
    assert page.locator(".conn.live").count() == 0


def test_dropped_files_join_the_picked_ones(live_asgi, erin, login, tmp_path):
    picked = tmp_path / "picked.png"
    Image.new("RGB", (32, 24), "navy").save(picked)
    page = login(live_asgi, "erin", "erin-pass-123")
    page.goto(f"{live_asgi}/upload/")
    page.set_input_files("input[name=images]", str(picked))
    # What a browser hands the page when a PNG from the desktop is dropped on the zone.
    dropped = tmp_path / "dropped.png"
    Image.new("RGB", (32, 24), "olive").save(dropped)
    page.evaluate("""([name, bytes]) => {
        const data = new DataTransfer();
        data.items.add(new File([new Uint8Array(bytes)], name, {type: "image/png"}));
        document.getElementById("drop").dispatchEvent(
            new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true}));
    }""", ["dropped.png", list(dropped.read_bytes())])
    assert page.locator("#picked li").all_text_contents()[0].startswith("picked.png")
    assert page.locator("#picked li").count() == 2
    page.select_option("select[name=scale]", "2")
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(f"{live_asgi}/")  # two uploads: back to the list of them
    names = page.locator("body").text_content()
    assert "picked.png" in names and "dropped.png" in names
