"""A real browser for the pages: Playwright (sync API) driving Debian's Chromium.

Never `playwright install`: the system Chromium at /usr/bin/chromium is the browser.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

# Playwright's sync API keeps an event loop running in this thread; Django would take every
# ORM call the test makes (fixtures, assertions) for one made from async code.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 800}
# Set to a folder (e.g. docs/screenshots) to save the pages' screenshots there.
SCREENSHOT_DIR = os.environ.get("MODQUEUE_SCREENSHOT_DIR", "")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, live_server: Any) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def screenshot(page: Page, name: str) -> bytes:
    """The viewport as PNG; saved as `<name>.png` under MODQUEUE_SCREENSHOT_DIR when set."""
    path = Path(SCREENSHOT_DIR) / f"{name}.png" if SCREENSHOT_DIR else None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return page.screenshot(path=path)
