"""Browser tests: the app served on a real socket, driven by Playwright and Debian's Chromium.

``live_server`` serves the session ``app`` from a daemon thread (werkzeug, threaded): each
request runs in its own thread, app context and database session, so data the test creates
must be committed first (mark the test ``committed``). The tenancy context is ContextVars,
per-thread: nothing set in the test thread leaks into the server's requests.

Chromium is ``/usr/bin/chromium`` (``apt-get install chromium fonts-wqy-microhei``); never
``playwright install``. Tests using ``browser_page`` must be marked ``browser`` (skipped
without Chromium, failed in CI). Each test leaves a screenshot of its last page in
``test-artifacts/<test name>.png``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import CHROMIUM

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
TIMEOUT_MS = 5_000


def pytest_configure(config):
    # ``tests/conftest.py`` implements the marker; pyproject's --strict-markers needs it listed.
    config.addinivalue_line(
        "markers", "committed: real commits (a browser, a worker or threads see the data)"
    )


@pytest.fixture(scope="session")
def live_server(app) -> Iterator[str]:
    """The app on http://127.0.0.1:<free port>; yields the base URL (no trailing slash)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture(scope="session")
def chromium_browser():
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@pytest.fixture
def browser_page(request, chromium_browser, live_server):
    """A fresh page (own cookies, locale zh-CN) whose URLs are relative to ``live_server``."""
    context = chromium_browser.new_context(
        base_url=live_server, locale="zh-CN", viewport={"width": 1280, "height": 800}
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        try:
            ARTIFACTS.mkdir(exist_ok=True)
            name = re.sub(r"[^\w.-]+", "_", request.node.name)
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        finally:
            context.close()


def artifact(name: str) -> str:
    """The path of a named file in ``test-artifacts/`` (created if missing)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / name)
