"""Fixtures for the browser tests: one JupyterLab and one headless Chromium for all of them.

Both are package-scoped, which in practice means once per session (every browser test lives here)
but torn down as soon as the last browser test has run: a live Playwright sync session keeps its
asyncio loop marked as running in this thread, which would break ``asyncio.run`` in later tests.

- ``jupyter_lab``: a `LabServer` serving a temporary copy of ``notebooks/`` (plus the harness's own
  ``fixtures/*.ipynb``), with fake credentials in the kernel's environment; ``jupyter_lab.secret`` is
  the fake API secret the tests look for in pages and saved notebooks.
- ``chromium``: Debian's ``/usr/bin/chromium`` driven by Playwright (never a downloaded browser).
- ``browser_page``: a fresh Playwright page (own context) per test; ``lab_page`` wraps it in a
  `LabPage`. A failing test leaves ``build/screenshots/failed-<test>.png`` behind.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .lab import CHROMIUM, CHROMIUM_ARGS, FIXTURES_DIR, SCREENSHOTS_DIR, LabPage, LabServer

#: Big enough that the Explorer dashboard fits without scrolling inside the notebook.
VIEWPORT = {"width": 1400, "height": 1800}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    # Keep each phase's report on the item so browser_page can screenshot a failed test.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="package")
def jupyter_lab() -> Iterator[LabServer]:
    """A running JupyterLab (token-protected, loopback only) shared by the browser tests."""
    with tempfile.TemporaryDirectory(prefix="cnb-lab-") as sandbox:
        server = LabServer(Path(sandbox), extra_notebooks=sorted(FIXTURES_DIR.glob("*.ipynb")))
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="package")
def chromium():
    """Headless Debian Chromium through Playwright's sync API.

    Skips when ``/usr/bin/chromium`` is missing on a developer machine; in CI (``CI=true``) that is
    a failure, since ``.ci/run`` installs the ``chromium`` package.
    """
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found: install Debian's chromium package (apt-get install chromium)"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(chromium, request: pytest.FixtureRequest):
    """A fresh Playwright page in its own browser context; screenshotted if the test fails."""
    context = chromium.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        yield page
    finally:
        _screenshot_if_failed(page, request)
        context.close()


@pytest.fixture
def lab_page(browser_page, jupyter_lab: LabServer, request: pytest.FixtureRequest) -> Iterator[LabPage]:
    """A `LabPage` on the session's JupyterLab; the kernels it started are shut down afterwards."""
    yield LabPage(browser_page, jupyter_lab)
    _screenshot_if_failed(browser_page, request)  # before the kernel goes, so the page shows why
    # A notebook's kernel (and any simulator it runs) should not outlive its test.
    jupyter_lab.shutdown_kernels()


def _screenshot_if_failed(page, request: pytest.FixtureRequest) -> None:
    report = getattr(request.node, "report_call", None)
    if report is None or not report.failed or getattr(request.node, "failure_screenshot", None):
        return
    SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    path = SCREENSHOTS_DIR / f"failed-{name}.png"
    page.screenshot(path=str(path))
    request.node.failure_screenshot = path
