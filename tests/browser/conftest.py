"""A real browser for the pages: Playwright (sync API) driving Debian's Chromium.

Never `playwright install`: the system Chromium at /usr/bin/chromium is the browser.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from moderation import selectors
from moderation.api.schema import validate_items
from moderation.services import ingest

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
def new_page(browser: Browser, live_server: Any) -> Iterator[Callable[..., Page]]:
    """Opens a page in a browser context of its own (own cookies: another person)."""
    contexts = []

    def open_page(**options: Any) -> Page:
        context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    return new_page()


@pytest.fixture(autouse=True)
def _inline_jobs(settings: Any) -> None:
    # Batches are processed in this process as they commit: the pages need no Redis worker.
    settings.MODQUEUE_INLINE_JOBS = True


def signal(category: str, score: float) -> dict[str, Any]:
    return {"classifier": "test-classifier", "category": category, "score": score}


def accept_and_process(api_key: Any, *items: dict[str, Any]) -> None:
    """Items accepted as the flags API accepts them, and processed as their batch commits."""
    key_org = api_key.organization.slug if api_key.organization else None
    valid, errors = validate_items(
        {"items": list(items)},
        key_organization=key_org,
        organizations={"acme", "globex"},
        category_for_label=selectors.category_labels(),
    )
    assert not errors, errors
    batch, _ = ingest.batch_accept(api_key=api_key, webhook_id=f"msg-{uuid.uuid4()}", items=valid)
    batch.refresh_from_db()
    assert batch.status == "processed"


def log_in(page: Page, username: str, password: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def screenshot(page: Page, name: str) -> bytes:
    """The viewport as PNG; saved as `<name>.png` under MODQUEUE_SCREENSHOT_DIR when set."""
    path = Path(SCREENSHOT_DIR) / f"{name}.png" if SCREENSHOT_DIR else None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return page.screenshot(path=path)
