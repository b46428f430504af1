"""Who holds what: rita holds an item, sam sees it under "Held items" on /queue/ and releases
it; once sam has taken it, rita's decision is refused with the conflict message."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from moderation.models import AuditAction, AuditEvent, Decision, FlaggedItem, ItemState

from .conftest import button, review_next, screenshot, sign_in


def test_a_senior_releases_an_item_a_reviewer_holds(new_page, reviewer, senior, flagged):
    flagged(1)
    rita_page, sam_page = new_page(), new_page()
    sign_in(rita_page, "rita")
    taken = review_next(rita_page)

    sign_in(sam_page, "sam")
    held = sam_page.get_by_role("region", name="Held items")
    row = held.get_by_role("row").filter(has_text=f"Item {taken}")
    expect(row).to_contain_text("rita")
    expect(row).to_contain_text("just now")
    expect(row.get_by_role("link", name=f"Item {taken}")).to_have_attribute(
        "href", f"/items/{taken}/"
    )
    screenshot(sam_page, "queue-held")

    row.get_by_role("button", name=f"Release item {taken} held by rita").click()

    expect(
        sam_page.get_by_text(f"Released item #{taken}: rita no longer holds it.")
    ).to_be_visible()
    expect(held.get_by_text("Nobody holds an item right now.")).to_be_visible()
    assert FlaggedItem.objects.get(pk=taken).state == ItemState.PENDING
    event = AuditEvent.objects.get(item_id=taken, action=AuditAction.ITEM_RELEASE)
    assert event.actor == senior and event.detail["held_by"] == "rita"

    # Sam takes the item; rita, still on its page, decides and is refused.
    assert review_next(sam_page) == taken
    button(rita_page, "No violation").click()
    expect(rita_page.get_by_role("alert")).to_contain_text("Another reviewer (sam) has held")
    expect(rita_page.get_by_role("alert")).to_contain_text("your decision was not recorded")
    expect(rita_page).to_have_url(re.compile(rf"/items/{taken}/$"))
    assert not Decision.objects.filter(item_id=taken).exists()
