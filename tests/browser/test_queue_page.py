"""The log-in and queue pages in a real browser (CONTRACT §8), found by their accessible names."""

from __future__ import annotations

import re
import struct
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from moderation import selectors
from moderation.corpus import corpus_items
from moderation.models import FlaggedItem, ReviewQueue
from moderation.services.organizations import api_key_create
from tests.factories import PASSWORD

from .conftest import VIEWPORT, accept_and_process, log_in, screenshot, signal

CORPUS_ITEMS = 30
# Every reviewer sees these two; the escalated queue is for seniors and admins.
EVERY_REVIEWERS_QUEUES = (ReviewQueue.CRITICAL, ReviewQueue.STANDARD)


@pytest.fixture
def corpus_queue(acme: Any, globex: Any) -> list[FlaggedItem]:
    """30 real corpus items, accepted and processed by the ingest services as the API would."""
    api_key, _ = api_key_create(name="corpus classifier", organization_slug=None)
    half = CORPUS_ITEMS // 2
    for index, slug in enumerate(("acme", "globex")):
        # Each organization gets its own slice of the corpus, as in the demo.
        raw = corpus_items(organization=slug, count=CORPUS_ITEMS, seed=index + 1)
        accept_and_process(api_key, *raw[index * half : (index + 1) * half])
    items = list(selectors.pending_items())
    assert len(items) == CORPUS_ITEMS
    return items


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])


def assert_fits_the_viewport(page: Page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the window"


def test_it_sends_a_signed_out_visitor_to_log_in(page, live_server, db):
    page.goto("/queue/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/queue/$"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    expect(page.get_by_label("Username")).to_be_focused()
    expect(page.get_by_label("Password")).to_have_attribute("type", "password")
    assert_fits_the_viewport(page)
    assert png_size(screenshot(page, "login")) == (VIEWPORT["width"], VIEWPORT["height"])


def test_it_logs_in_and_shows_the_pending_counts_per_queue(page, reviewer, corpus_queue):
    page.goto("/queue/")
    log_in(page, "rita", PASSWORD)

    expect(page).to_have_url(re.compile(r"/queue/$"))
    expect(page.get_by_role("heading", name="Review queues")).to_be_visible()
    counts = page.get_by_role("region", name="Pending per queue")
    for queue in EVERY_REVIEWERS_QUEUES:
        pending = FlaggedItem.objects.filter(queue=queue, state="pending").count()
        card = counts.get_by_role("link", name=re.compile(rf"^{queue.label} {pending} pending\b"))
        expect(card).to_be_visible()
    expect(page.get_by_text("rita")).to_be_visible()
    assert_fits_the_viewport(page)
    screenshot(page, "queue")


def test_the_queue_lists_the_pending_items_in_review_order(page, reviewer, corpus_queue):
    page.goto("/queue/")
    log_in(page, "rita", PASSWORD)

    table = page.get_by_role("table")
    for name in ("Item", "Priority", "Queue", "Organization", "Signals", "Prompt", "Waiting"):
        expect(table.get_by_role("columnheader", name=name)).to_be_visible()
    rows = table.locator("tbody").get_by_role("row")
    expect(rows.first).to_be_visible()
    shown = [int(p) for p in rows.locator("td.num").all_inner_texts()]
    # A page of the backlog (the view may cap it), in claim order: earliest due first, which
    # for items of one queue received together is the highest priority first.
    assert 10 <= len(shown) <= CORPUS_ITEMS
    assert shown == sorted(shown, reverse=True)
    assert shown == [i.priority for i in corpus_queue[: len(shown)]]
    first = corpus_queue[0]
    expect(rows.first).to_contain_text(first.prompt[:60])
    expect(rows.first).to_contain_text(first.organization.slug)
    # Signals are shown by category name, not by the upstream's label.
    signal = first.signals.select_related("category").first()
    expect(rows.first).to_contain_text(f"{signal.category.name} {signal.score:.2f}")


def test_a_long_unbroken_prompt_does_not_widen_the_page(page, reviewer, signed_key, item):
    url = "https://example.com/" + "averylongpathsegment" * 6
    accept_and_process(signed_key.api_key, item(1, prompt=f"Is this link safe? {url}"))
    page.goto("/queue/")
    log_in(page, "rita", PASSWORD)
    expect(page.get_by_role("table")).to_contain_text("Is this link safe?")
    assert_fits_the_viewport(page)


def test_a_queue_card_narrows_the_list_to_that_queue(page, reviewer, signed_key, item):
    critical = item(1, prompt="Flagged for weapons", signals=[signal("weapons", 0.9)])
    standard = item(2, prompt="Flagged for fraud", signals=[signal("fraud", 0.9)])
    accept_and_process(signed_key.api_key, critical, standard)
    page.goto("/queue/")
    log_in(page, "rita", PASSWORD)
    table = page.get_by_role("table")
    # Critical content is never shown in the list, only on the item page behind "Show content".
    expect(table).not_to_contain_text("Flagged for weapons")
    expect(table).to_contain_text("Hidden in this list")
    expect(table).to_contain_text("Flagged for fraud")

    cards = page.get_by_role("region", name="Pending per queue")
    cards.get_by_role("link", name=re.compile(r"^Critical 1 pending")).click()
    expect(page).to_have_url(re.compile(r"\?queue=critical$"))
    expect(page.get_by_role("heading", name="Next in critical")).to_be_visible()
    expect(table).to_contain_text("Hidden in this list")
    expect(table).not_to_contain_text("Flagged for fraud")

    page.get_by_role("link", name="Show all queues").click()
    expect(page).to_have_url(re.compile(r"/queue/$"))
    expect(table).to_contain_text("Flagged for fraud")


def test_an_empty_queue_says_so(page, reviewer):
    page.goto("/queue/")
    log_in(page, "rita", PASSWORD)
    expect(page.get_by_text("Queue empty.")).to_be_visible()
    expect(page.get_by_role("table")).to_have_count(0)
    for queue in EVERY_REVIEWERS_QUEUES:
        card = page.get_by_role("link", name=re.compile(rf"^{queue.label} 0 pending empty"))
        expect(card).to_be_visible()


def test_a_wrong_password_shows_an_error(page, reviewer):
    page.goto("/accounts/login/")
    log_in(page, "rita", "not the password")

    expect(page.get_by_role("alert")).to_contain_text("did not match")
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_label("Username")).to_have_value("rita")
    expect(page.get_by_label("Password")).to_have_value("")
    page.goto("/queue/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def test_logging_out_ends_the_session(page, reviewer):
    page.goto("/queue/")
    log_in(page, "rita", PASSWORD)
    expect(page.get_by_role("heading", name="Review queues")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    page.goto("/queue/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/queue/$"))


def test_each_listed_item_opens_its_page(page, reviewer, corpus_queue):
    page.goto("/queue/")
    log_in(page, "rita", PASSWORD)
    rows = page.get_by_role("table").locator("tbody").get_by_role("row")
    first = corpus_queue[0]
    link = rows.first.get_by_role("link", name=f"Item {first.pk}", exact=True)

    link.click()

    expect(page).to_have_url(re.compile(rf"/items/{first.pk}/$"))
    expect(page.get_by_role("heading", name=re.compile(rf"^Item {first.pk}\b"))).to_be_visible()
