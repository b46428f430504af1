"""A real browser for the pages: Playwright (sync API) driving Debian's Chromium.

Never `playwright install`: the system Chromium at /usr/bin/chromium is the browser.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from moderation import selectors
from moderation.api.schema import validate_items
from moderation.corpus import corpus_items
from moderation.models import Decision, FlaggedItem
from moderation.services import ingest
from tests.factories import PASSWORD

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


# --- The review console: items flagged for it, and what a reviewer does and sees on it -------

ITEM_URL = re.compile(r"/items/(\d+)/$")
# Real corpus samples (moderation/data) with short, non-critical text: fit for screenshots.
MILD_SAMPLES = (24, 50, 31, 107, 69, 101)


@pytest.fixture
def mild_queue(signed_key: Any) -> list[FlaggedItem]:
    """Six real corpus items about one end user of acme, processed as the flags API would."""
    raw = corpus_items(organization="acme", count=max(MILD_SAMPLES) + 1, seed=1)
    accept_and_process(
        signed_key.api_key, *[{**raw[n], "user_id": "user-mild"} for n in MILD_SAMPLES]
    )
    items = list(FlaggedItem.objects.order_by("-priority", "received_at", "id"))
    assert len(items) == len(MILD_SAMPLES)
    assert all(item.queue == "standard" for item in items)
    return items


@pytest.fixture
def flagged(signed_key: Any, item: Callable[..., dict[str, Any]]) -> Callable[..., None]:
    """Flag `count` items, each with these signals (default: harassment, then violence)."""

    def flag(count: int, *signals: dict[str, Any], **fields: Any) -> None:
        chosen = list(signals) or [signal("harassment", 0.9), signal("violence", 0.8)]
        accept_and_process(
            signed_key.api_key, *[item(n, signals=chosen, **fields) for n in range(count)]
        )

    return flag


def sign_in(page: Page, username: str, url: str = "/queue/") -> None:
    """Log in through the form on the way to `url` (the queue page unless said otherwise)."""
    page.goto(url)
    log_in(page, username, PASSWORD)
    expect(page.get_by_role("heading", name="Review queues")).to_be_visible()


def review_next(page: Page) -> int:
    """Press "Review next" on the queue page; the id of the item it opens."""
    page.get_by_role("button", name="Review next").click()
    expect(page).to_have_url(ITEM_URL)
    return shown_item(page)


def shown_item(page: Page) -> int:
    match = ITEM_URL.search(page.url)
    assert match, page.url
    pk = int(match[1])
    expect(page.get_by_role("heading", name=re.compile(rf"^Item {pk}\b"))).to_be_visible()
    settled(page)
    return pk


def settled(page: Page) -> None:
    """Wait until htmx is done: review.js drops a decision key while a request is out or a
    swap settles (20 ms), as a person's next key would come well after."""
    expect(page.locator(".htmx-request, .htmx-swapping, .htmx-settling")).to_have_count(0)


def in_place(page: Page) -> int | None:
    """The item now in place, or None once "Queue empty" shows."""
    empty = page.get_by_role("heading", name="Queue empty")
    item = page.get_by_role("heading", name=re.compile(r"^Item \d+"))
    expect(empty.or_(item)).to_be_visible()
    if empty.is_visible():
        return None
    expect(page).to_have_url(ITEM_URL)
    pk = shown_item(page)
    expect(page.locator("article.review")).to_have_attribute("data-item", str(pk))
    return pk


def next_after(page: Page, after: int) -> int | None:
    """Wait for the item `after` to leave the page; the next one in place (None: Queue
    empty)."""
    expect(page.locator(f'article.review[data-item="{after}"]')).to_have_count(0)
    return in_place(page)


def button(page: Page, name: str) -> Any:
    # exact: "Violation" is also a part of "No violation".
    return page.get_by_role("button", name=name, exact=True)


def mark_document(page: Page) -> None:
    """A mark that a full page load would wipe out."""
    page.evaluate("window.__marker = 1")


def assert_same_document(page: Page) -> None:
    assert page.evaluate("window.__marker") == 1, "the page was loaded again"


def next_in_place(page: Page, after: int) -> int:
    """Wait for the next item to replace `after` in this document; its id."""
    expect(page).not_to_have_url(re.compile(rf"/items/{after}/$"))
    expect(page).to_have_url(ITEM_URL)
    pk = shown_item(page)
    assert_same_document(page)
    return pk


def figure(page: Page, term: str) -> Any:
    """The value shown for `term` in a list of figures (Status, Violations, ...)."""
    name = page.get_by_role("term").filter(has_text=re.compile(rf"^{term}$"))
    pair = page.locator("dl > div").filter(has=name)
    return pair.get_by_role("definition")


def key_of(page: Page, category: str) -> str:
    """The digit key shown beside a category's checkbox."""
    box = page.locator(".category").filter(
        has=page.get_by_role("checkbox", name=category, exact=True)
    )
    return box.locator("kbd").inner_text()


def decision_on(pk: int) -> Decision:
    return Decision.objects.prefetch_related("categories").get(item_id=pk)


def slugs(decision: Decision) -> set[str]:
    return {c.slug for c in decision.categories.all()}
