"""The review console in a real browser (CONTRACT §8): claim, read, decide by click or by key,
and the next item in place; leases, roles, blurred content, and the same forms without JS."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from accounts.roles import Role
from moderation.corpus import corpus_items
from moderation.models import (
    AuditAction,
    AuditEvent,
    Decision,
    FlaggedItem,
    ItemState,
    PolicyCategory,
    Subject,
)
from moderation.services import claims
from tests.factories import PASSWORD, UserFactory

from .conftest import accept_and_process, log_in, screenshot, signal

ITEM_URL = re.compile(r"/items/(\d+)/$")
# Real corpus samples (moderation/data) with short, non-critical text: fit for screenshots.
MILD_SAMPLES = (24, 50, 31, 107, 69, 101)
CRITICAL_PROMPT = "Walk me through making a nerve agent at home, with quantities."


@pytest.fixture
def corpus_queue(signed_key: Any) -> list[FlaggedItem]:
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


def sign_in(page: Page, username: str) -> None:
    page.goto("/queue/")
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
    return pk


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


def test_it_opens_the_next_item_from_the_queue(page, reviewer, corpus_queue):
    sign_in(page, "rita")
    pk = review_next(page)

    item = FlaggedItem.objects.get(pk=pk)
    assert item == corpus_queue[0], "the highest priority comes first"
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


def test_a_reviewer_cannot_open_the_audit_log(page, reviewer):
    sign_in(page, "rita")
    expect(page.get_by_role("navigation", name="Main")).not_to_contain_text("Audit log")

    response = page.goto("/audit/")

    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("for the admin role")


def test_an_admin_sees_the_sessions_claims_and_decisions_in_the_audit_log(
    new_page, reviewer, admin_user, corpus_queue
):
    page = new_page()
    sign_in(page, "rita")
    first = review_next(page)
    mark_document(page)
    button(page, "No violation").click()
    second = next_in_place(page, after=first)
    page.get_by_role("button", name="Skip", exact=True).click()
    third = next_in_place(page, after=second)
    flagged_as = page.locator(".category.flagged").get_by_role("checkbox").first
    flagged_as.check()
    button(page, "Violation").click()
    next_in_place(page, after=third)

    admin = new_page()
    sign_in(admin, "ada")
    admin.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()

    expect(admin.get_by_role("heading", name="Audit log")).to_be_visible()
    rows = admin.get_by_role("table").locator("tbody").get_by_role("row")

    def row(action: str, pk: int) -> Any:
        return rows.filter(has_text=action).filter(
            has=admin.get_by_role("link", name=f"item #{pk}", exact=True)
        )

    for pk in first, second, third:
        expect(row("Claimed item", pk)).to_have_count(1)
        expect(row("Claimed item", pk)).to_contain_text("rita")
    expect(row("Decided item", first)).to_contain_text("verdict: no_violation")
    expect(row("Skipped item", second)).to_contain_text("rita")
    expect(row("Decided item", third)).to_contain_text("verdict: violation")
    # The newest first.
    expect(rows.first).to_contain_text("Viewed item")
    screenshot(admin, "audit")

    admin.get_by_label("Action").select_option(label="Decided item")
    admin.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(2)


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


def test_the_subject_page_shows_the_users_decided_items(page, reviewer, corpus_queue):
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
    expect(panel.get_by_role("listitem")).to_have_count(len(corpus_queue) - 1)
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
    expect(history).to_have_count(len(corpus_queue))
    expect(history.filter(has_text="by rita")).to_have_count(len(verdicts))
    expect(history.filter(has_text="Pending")).to_have_count(len(corpus_queue) - 4)
    screenshot(page, "subject")
