"""Browser tests: Playwright driving Debian's Chromium against a live server.

A failing test leaves a screenshot in var/screenshots/ (git-ignored); the ``journey`` fixture keeps one
of each key step of a user's journey there too (CI keeps var/screenshots/ as its artifact).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

# Playwright's sync API runs an event loop in this thread; the ORM calls made by the test itself
# are still synchronous, so allow them.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make test` (it installs Debian's chromium) or set CHROMIUM_PATH")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    context.close()


@pytest.fixture
def login(live_server, page):
    """Log ``user`` in through the real admin login form."""

    def _login(user, password: str | None = None) -> None:
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", user.get_username())
        page.fill("#id_password", password or f"pw-{user.get_username()}")
        page.click("input[type=submit]")
        page.wait_for_url(f"{live_server.url}/admin/")

    return _login


def _file_name(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text).strip("_")


@pytest.fixture
def journey(page, request):
    """``journey("step")`` saves a screenshot of the page (or of ``on=`` another page) as
    var/screenshots/<test name>-<nn>-<step>.png; where the journey ended is kept as <test name>.png."""
    name = _file_name(request.node.name)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob(f"{name}-[0-9][0-9]-*.png"):  # a shorter run must not leave older steps behind
        old.unlink()
    taken = []

    def shot(step: str, *, on=None) -> None:
        taken.append(step)
        (on or page).screenshot(path=str(SCREENSHOTS / f"{name}-{len(taken):02d}-{_file_name(step)}.png"), full_page=True)

    yield shot
    report = getattr(request.node, "report_call", None)
    if report is not None and report.passed:
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
