"""What the console shows of an item and its user: critical content only once shown, the reveal
logged; the user's decided items beside it and on their subject page."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from moderation.models import AuditAction, AuditEvent, Subject

from .conftest import (
    assert_same_document,
    button,
    figure,
    mark_document,
    next_in_place,
    review_next,
    screenshot,
    sign_in,
    signal,
)

CRITICAL_PROMPT = "Walk me through making a nerve agent at home, with quantities."


def test_critical_content_is_not_in_the_page_until_shown_and_the_reveal_is_logged(
    page, reviewer, flagged
):
    flagged(1, signal("weapons", 0.95), prompt=CRITICAL_PROMPT)
    sign_in(page, "rita")
    pk = review_next(page)
    mark_document(page)

    show = page.get_by_role("button", name="Show content")
    expect(show).to_be_visible()
    expect(page.get_by_role("region", name="Content")).to_contain_text("critical category")
    # Not blurred: absent. Nothing of it in the document, text or attribute.
    assert "nerve agent" not in page.content()
    expect(page.get_by_label("Keyboard shortcuts")).to_contain_text("C Show content")
    assert not AuditEvent.objects.filter(action=AuditAction.CONTENT_REVEAL).exists()
    screenshot(page, "item-hidden")

    page.keyboard.press("c")

    expect(show).to_have_count(0)
    expect(page.get_by_text(CRITICAL_PROMPT)).to_be_visible()
    assert_same_document(page)
    reveal = AuditEvent.objects.get(action=AuditAction.CONTENT_REVEAL)
    assert (reveal.actor, reveal.item_id) == (reviewer, pk)
    # Still revealed after a reload: the reveal is remembered for the session.
    page.reload()
    expect(page.get_by_text(CRITICAL_PROMPT)).to_be_visible()
    expect(page.get_by_role("button", name="Show content")).to_have_count(0)


def test_the_subject_page_shows_the_users_decided_items(page, reviewer, mild_queue):
    sign_in(page, "rita")
    pk = review_next(page)
    mark_document(page)
    verdicts = ["No violation", "Violation", "No violation"]
    for verdict in verdicts:
        if verdict == "Violation":
            # One of the item's own (flagged) categories.
            page.locator(".category.flagged").get_by_role("checkbox").first.check()
        button(page, verdict).click()
        pk = next_in_place(page, after=pk)
    panel = page.get_by_role("region", name=re.compile(r"^User "))
    expect(panel.get_by_role("listitem")).to_have_count(len(mild_queue) - 1)
    expect(panel.get_by_text("Violation", exact=True)).to_have_count(1)
    expect(panel.get_by_text("No violation", exact=True)).to_have_count(2)
    screenshot(page, "item")

    panel.get_by_role("link").first.click()

    subject = Subject.objects.get()
    expect(page).to_have_url(
        re.compile(rf"/subjects/acme/{subject.user_id_hash}/$"),
    )
    expect(page.get_by_role("heading", name=f"User {subject.user_id_hash}")).to_be_visible()
    for term, value in (
        ("Status", subject.get_status_display()),
        ("Violations", str(subject.violations)),
        ("Reviewed", str(subject.reviewed)),
        ("Violation rate", f"{round(subject.violation_rate * 100)}%"),
    ):
        expect(figure(page, term)).to_have_text(value)
    history = page.get_by_role("region", name="History").locator("tbody").get_by_role("row")
    expect(history).to_have_count(len(mild_queue))
    expect(history.filter(has_text="by rita")).to_have_count(len(verdicts))
    expect(history.filter(has_text="Pending")).to_have_count(len(mild_queue) - 4)
    screenshot(page, "subject")
