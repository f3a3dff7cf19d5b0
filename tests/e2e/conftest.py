"""Browser test fixtures: the shared web fixtures plus the real ASGI server (uvicorn) on the
test database, and Debian's Chromium (the test skips without it, unless CI=true)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from webapp import testing

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


@pytest.fixture(autouse=True)
def web_stack(web_settings: None, weights_env: None) -> None:
    """The shared fixtures of tests/conftest.py (private Redis, settings, weights), switched on."""


def find_chromium() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no Chromium found: .ci/run installs the `chromium` package")
        pytest.skip("no Chromium found (apt-get install chromium); the browser test needs it")
    return path


@pytest.fixture
def live_asgi(celery_worker_proc: None, transactional_db: None, private_redis: object,
              media_root: Path, weights_dir: Path, tmp_path: Path) -> Iterator[str]:
    """The real ASGI app (HTTP + websockets) served by uvicorn on a free port."""
    env = testing.child_env(redis_url=private_redis.url, media_root=media_root,
                            weights_dir=weights_dir)
    port = testing.free_port()
    proc = testing.start_asgi(env, port, tmp_path / "web.log")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        testing.stop(proc)


@pytest.fixture
def browser(chromium_path: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, headless=True,
                                     args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def login(browser: object) -> object:
    """login(base, username, password) -> a new page logged in through the real login form."""
    return lambda base, username, password: _login(browser, base, username, password)


def _login(browser: object, base: str, username: str, password: str) -> object:
    page = browser.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    return page
