"""The review console in a real browser (CONTRACT §8): claim the next item, read it, decide by
click or by key and get the next item in place, to "Queue empty"; the same forms without JS."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from moderation.models import Decision, FlaggedItem, ItemState, PolicyCategory
from moderation.services import claims

from .conftest import (
    assert_same_document,
    button,
    decision_on,
    key_of,
    mark_document,
    next_in_place,
    review_next,
    shown_item,
    sign_in,
    slugs,
)


def test_it_opens_the_next_item_from_the_queue(page, reviewer, mild_queue):
    sign_in(page, "rita")
    pk = review_next(page)

    item = FlaggedItem.objects.get(pk=pk)
    assert item == mild_queue[0], "the highest priority comes first"
    assert (item.state, item.claimed_by) == (ItemState.CLAIMED, reviewer)
    expect(page.get_by_role("region", name="Content")).to_contain_text(item.prompt[:80])
    for name in ("Violation", "No violation", "Escalate", "Skip"):
        expect(button(page, name)).to_be_enabled()
    for category in PolicyCategory.objects.all():
        checkbox = page.get_by_role("checkbox", name=category.name, exact=True)
        expect(checkbox).not_to_be_checked()
    expect(page.get_by_role("checkbox")).to_have_count(PolicyCategory.objects.count())
    expect(page.get_by_role("textbox", name="Note")).to_be_empty()


def test_it_decides_by_click_and_shows_the_next_item_in_place(page, reviewer, flagged):
    flagged(3)
    sign_in(page, "rita")
    first = review_next(page)
    mark_document(page)

    page.get_by_label("Violence", exact=True).check()
    button(page, "Violation").click()

    second = next_in_place(page, after=first)
    decision = decision_on(first)
    assert (decision.verdict, decision.reviewer) == ("violation", reviewer)
    assert slugs(decision) == {"violence"}
    assert FlaggedItem.objects.get(pk=first).state == ItemState.DECIDED
    assert claims.claim_held(user=reviewer).pk == second
    # The next item's form starts clean.
    expect(page.get_by_role("checkbox", name="Violence", exact=True)).not_to_be_checked()

    # Back goes to the decided item as it is now, not to a stale copy with its buttons.
    page.go_back()
    expect(page).to_have_url(re.compile(rf"/items/{first}/$"))
    expect(page.get_by_text("This item has been decided.")).to_be_visible()
    expect(button(page, "No violation")).to_have_count(0)


def test_it_decides_by_keyboard(page, reviewer, flagged):
    flagged(4)
    sign_in(page, "rita")
    first = review_next(page)
    mark_document(page)

    page.keyboard.press("n")
    second = next_in_place(page, after=first)
    assert decision_on(first).verdict == "no_violation"

    # Each category has its key beside its name, the same on every item.
    hate = page.get_by_role("checkbox", name="Hate", exact=True)
    violence = page.get_by_role("checkbox", name="Violence", exact=True)
    hate_key, violence_key = key_of(page, "Hate"), key_of(page, "Violence")
    for key in hate_key, violence_key, violence_key, violence_key:
        page.keyboard.press(key)
    expect(hate).to_be_checked()
    expect(violence).to_be_checked()
    page.keyboard.press("v")
    third = next_in_place(page, after=second)
    decision = decision_on(second)
    assert decision.verdict == "violation"
    assert slugs(decision) == {"hate", "violence"}
    assert (key_of(page, "Hate"), key_of(page, "Violence")) == (hate_key, violence_key)

    page.keyboard.press("e")
    expect(page.get_by_role("alert")).to_have_text("Say in the note why you escalate.")
    expect(page).to_have_url(re.compile(rf"/items/{third}/$"))
    assert not Decision.objects.filter(item_id=third).exists()
    assert claims.claim_held(user=reviewer).pk == third

    note = page.get_by_role("textbox", name="Note")
    page.keyboard.press("/")
    expect(note).to_be_focused()
    # Letters typed into the note are text, not shortcuts.
    page.keyboard.type("Violent, but is it aimed at anyone? A senior should see this.")
    page.keyboard.press("Escape")
    expect(note).not_to_be_focused()
    expect(page).to_have_url(re.compile(rf"/items/{third}/$"))
    page.keyboard.press("e")
    next_in_place(page, after=third)
    escalation = decision_on(third)
    assert escalation.verdict == "escalate"
    assert escalation.note.startswith("Violent, but is it aimed at anyone?")
    assert FlaggedItem.objects.get(pk=third).state == ItemState.ESCALATED


def test_it_says_queue_empty_in_place_after_the_last_item(page, reviewer, flagged):
    flagged(1)
    sign_in(page, "rita")
    only = review_next(page)
    mark_document(page)

    button(page, "No violation").click()

    expect(page.get_by_role("heading", name="Queue empty")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/queue/$"))
    assert_same_document(page)
    assert decision_on(only).verdict == "no_violation"
    expect(page.get_by_role("button", name="Review next")).to_be_visible()


def test_the_console_works_without_javascript(new_page, reviewer, flagged):
    flagged(2)
    page = new_page(java_script_enabled=False)
    sign_in(page, "rita")
    first = review_next(page)

    button(page, "No violation").click()

    expect(page).not_to_have_url(re.compile(rf"/items/{first}/$"))
    second = shown_item(page)
    assert decision_on(first).verdict == "no_violation"

    page.get_by_label("Violence", exact=True).check()
    button(page, "Violation").click()
    expect(page).to_have_url(re.compile(r"/queue/$"))
    expect(page.get_by_role("status")).to_contain_text("Queue empty")
    assert slugs(decision_on(second)) == {"violence"}
