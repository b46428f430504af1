"""Claims in the console: reviewers pressing "Review next" at once each get an item of their
own; a decision after the lease ran out and another took the item is refused, and says so."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import expect

from accounts.roles import Role
from moderation.models import AuditAction, AuditEvent, Decision, FlaggedItem, ItemState
from moderation.services import claims
from tests.factories import UserFactory

from .conftest import (
    ITEM_URL,
    assert_same_document,
    button,
    decision_on,
    mark_document,
    review_next,
    shown_item,
    sign_in,
)


def test_reviewers_pressing_review_next_at_once_get_different_items(new_page, flagged):
    flagged(6)
    names = [f"reviewer{n}" for n in range(4)]
    users = [UserFactory(username=name, role=Role.REVIEWER) for name in names]
    pages = [new_page() for _ in names]
    for page, name in zip(pages, names, strict=True):
        sign_in(page, name)

    for page in pages:
        page.get_by_role("button", name="Review next").click(no_wait_after=True)
    for page in pages:
        expect(page).to_have_url(ITEM_URL)
    shown = [shown_item(page) for page in pages]

    assert len(set(shown)) == len(pages), shown
    for pk, user in zip(shown, users, strict=True):
        item = FlaggedItem.objects.get(pk=pk)
        assert (item.state, item.claimed_by) == (ItemState.CLAIMED, user)
        claims_of_item = AuditEvent.objects.filter(item=item, action=AuditAction.ITEM_CLAIM)
        assert claims_of_item.count() == 1, "claimed once, by one reviewer"
    assert FlaggedItem.objects.filter(state=ItemState.CLAIMED).count() == len(pages)


def test_a_decision_after_the_lease_ran_out_and_another_took_the_item_is_refused(
    new_page, reviewer, flagged
):
    flagged(1)
    bob = UserFactory(username="bob", role=Role.REVIEWER)
    rita_page, bob_page = new_page(), new_page()
    sign_in(rita_page, "rita")
    taken = review_next(rita_page)
    mark_document(rita_page)
    # Rita's lease runs out; the workers give the item back to the queue, and Bob takes it.
    later = FlaggedItem.objects.get(pk=taken).lease_expires_at + timedelta(seconds=1)
    assert claims.claims_expire(now=later) == 1
    sign_in(bob_page, "bob")
    assert review_next(bob_page) == taken

    button(rita_page, "No violation").click()

    expect(rita_page.get_by_role("alert")).to_contain_text("Another reviewer (bob) has held")
    expect(rita_page.get_by_role("alert")).to_contain_text("your decision was not recorded")
    expect(button(rita_page, "No violation")).to_have_count(0)
    expect(rita_page).to_have_url(re.compile(rf"/items/{taken}/$"))
    assert_same_document(rita_page)
    assert not Decision.objects.filter(item_id=taken).exists()

    button(bob_page, "Violation").click()  # no category: refused, and says so
    expect(bob_page.get_by_role("alert")).to_contain_text("Choose at least one policy category")
    bob_page.get_by_label("Harassment", exact=True).check()
    button(bob_page, "Violation").click()
    expect(bob_page.get_by_role("heading", name="Queue empty")).to_be_visible()
    decision = decision_on(taken)
    assert (decision.reviewer, decision.verdict) == (bob, "violation")
