"""The training studio in a real browser, as staff: upload a dataset archive, start a short
ESPCN x2 run from the form, watch the loss chart gain points live, cancel, resume, wait for
done, promote, and find the promoted model on the upload page (with a screenshot)."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(240)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Big enough patches that the run lasts a few seconds on two cores (time to watch and
# cancel it), small enough that the whole walk stays well under a minute and a half.
STEPS = 100
FORM = {"steps": str(STEPS), "batch_size": "8", "patch_size": "24", "lr": "0.001",
        "log_every": "1", "val_every": "20", "ckpt_every": "20", "keep_last": "1",
        "hparams": '{"n1": 8, "n2": 8}'}


@pytest.fixture
def tess(live_asgi, django_user_model):
    # Made before the browser starts: Playwright's sync API runs an event loop in this thread.
    return django_user_model.objects.create_user("tess", password="tess-pass-123",
                                                 is_staff=True)


def _archive(path: Path) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(4):
            yy, xx = np.mgrid[0:72, 0:96]
            rings = (np.sin(np.hypot(yy - 30 - i, xx - 40) / (2.0 + i)) * 127 + 128)
            pixels = np.stack([rings, (xx * 2 + i * 9) % 256, (yy * 3) % 256], axis=-1)
            png = io.BytesIO()
            Image.fromarray(pixels.astype(np.uint8)).save(png, format="PNG")
            zf.writestr(f"hr/{i}.png", png.getvalue())
    path.write_bytes(buf.getvalue())
    return path


def _loss_points(page) -> int:
    return int(page.get_attribute("canvas[data-chart=loss]", "data-points") or 0)


def _last_step(page) -> int:
    return int(float(page.get_attribute("canvas[data-chart=loss]", "data-last-x") or 0))


def _status(page) -> str:
    return page.text_content("[data-field=status]").strip()


def _running(page) -> bool:
    status = _status(page)
    assert status in ("queued", "running"), f"the run is {status} before the test cancelled it"
    return status == "running"


def _wait(page, predicate, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(100)


def test_staff_train_watch_cancel_resume_promote(chromium_path, live_asgi, tess, login,
                                                 tmp_path):
    # chromium_path first: without Chromium the test skips before starting the servers.
    base = live_asgi
    page = login(base, "tess", "tess-pass-123")

    page.goto(f"{base}/training/datasets/new")
    page.fill("input[name=up-name]", "e2e-hr")
    page.set_input_files("input[name=up-archive]", str(_archive(tmp_path / "hr.zip")))
    page.click("form:has(input[name=up-name]) button[type=submit]")
    page.wait_for_url("**/training/datasets/*/")
    assert "e2e-hr" in page.text_content("h1")

    page.goto(f"{base}/training/runs/new")
    page.fill("input[name=name]", "e2e-run")
    page.select_option("select[name=arch]", "espcn")
    page.select_option("select[name=scale]", "2")
    page.select_option("select[name=train_dataset]", label="e2e-hr")
    page.select_option("select[name=val_dataset]", label="e2e-hr")
    for name, value in FORM.items():
        page.fill(f"input[name={name}]", value)
    page.click("form.card button[type=submit]")
    page.wait_for_url("**/training/runs/*/")
    run_url = page.url

    # Live: the loss chart gains points while the run is running, without a reload.
    _wait(page, lambda: _running(page) and _loss_points(page) > 0,
          "the first logged step on the chart")
    first = _loss_points(page)
    _wait(page, lambda: _running(page) and _loss_points(page) > first + 2,
          "more points on the loss chart")
    assert page.url == run_url

    page.click("[data-field=cancel] button")
    page.wait_for_url(run_url)
    page.wait_for_selector("[data-field=resume]:not([hidden])")
    assert _status(page) == "cancelled"
    stopped = int(page.text_content("[data-field=step]").split("/")[0])
    assert 0 < stopped < STEPS

    page.click("[data-field=resume] button")
    page.wait_for_url(run_url)
    assert "attempt 2" in page.text_content("p.muted")
    _wait(page, lambda: _status(page) == "done", "the resumed run to finish", timeout=90)
    page.wait_for_selector("[data-field=promote]:not([hidden])")
    live = _loss_points(page)
    assert live > first and _last_step(page) == STEPS  # one curve across both attempts
    page.reload()  # the stored history alone draws the same curve
    assert (_loss_points(page), _last_step(page)) == (live, STEPS)
    assert page.text_content("[data-field=step]").strip() == f"{STEPS}/{STEPS}"

    page.fill("[data-field=promote] input[name=name]", "e2e-espcn")
    page.click("[data-field=promote] button")
    page.wait_for_url(run_url)
    assert "Promoted as: e2e-espcn" in page.text_content("body")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-training-studio.png"), full_page=True)

    page.goto(f"{base}/upload/")
    option = page.locator("input[name=models][value=e2e-espcn]")
    assert option.count() == 1
    label = page.text_content("label:has(input[name=models][value=e2e-espcn])")
    assert "trained here" in label
    page.close()
