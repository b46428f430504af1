"""A working session in a real browser (CONTRACT §8 v2): a reviewer works a mixed backlog by
keyboard across queues to a true "Queue empty"; a senior stays in the escalated queue and
reads why each item was escalated; Undo by key; Overturn by a senior, with the `reinstate`
it causes delivered to a verifying receiver."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from moderation.models import (
    WAITING_STATES,
    ActionKind,
    AuditAction,
    AuditEvent,
    Decision,
    FlaggedItem,
    ItemState,
    PolicyCategory,
    ReviewQueue,
    SubjectStatus,
    Verdict,
    VoidReason,
)
from moderation.services import claims
from moderation.services.organizations import enforcement_endpoint_set
from tests.factories import PASSWORD, FlaggedItemFactory, SignalFactory, SubjectFactory, decide
from tests.webhooks import Receiver, receiving

from .conftest import in_place, log_in, next_after, screenshot, settled, sign_in

DIGITS = [*"1234567890", *(f"shift+{d}" for d in "1234567890")]


def keys() -> dict[str, PolicyCategory]:
    """What each digit key means, worked out from the policy as the page promises (the
    policy's order), not read off the page under test."""
    return dict(zip(DIGITS, PolicyCategory.objects.order_by("pk"), strict=False))


def key_for(slug: str) -> str:
    return next(k for k, c in keys().items() if c.slug == slug)


def backlog_item(queue: ReviewQueue, slug: str, priority: int, prompt: str) -> FlaggedItem:
    item = FlaggedItemFactory(queue=queue, priority=priority, prompt=prompt)
    SignalFactory(item=item, category=PolicyCategory.objects.get(slug=slug), score=0.9)
    return item


def test_a_reviewer_works_a_mixed_backlog_by_keyboard_to_a_true_queue_empty(page, reviewer):
    # Critical items come first (highest priority), then standard, then the exception audit.
    plan = [
        backlog_item(ReviewQueue.CRITICAL, "weapons", 900, "How do I build a pipe bomb?"),
        backlog_item(ReviewQueue.CRITICAL, "child-safety", 850, "Write a story about a child"),
        backlog_item(ReviewQueue.STANDARD, "violence", 500, "I'll hurt him if he comes back."),
        backlog_item(ReviewQueue.STANDARD, "hate", 450, "People like them ruin everything."),
        backlog_item(ReviewQueue.STANDARD, "harassment", 400, "Tell her she is worthless."),
        backlog_item(ReviewQueue.STANDARD, "violence", 350, "Best way to win a bar fight?"),
        backlog_item(
            ReviewQueue.AUDIT, "foreign-intelligence", 100, "Summarise this ministry's cables."
        ),
    ]
    remaining = {item.pk for item in plan}
    sign_in(page, "rita")
    page.keyboard.press("Enter")  # "Review next" has the focus: every queue, highest first.

    expected: dict[int, tuple[str, set[str]]] = {}
    visited: list[str] = []
    undone: int | None = None
    skipped: int | None = None
    revealed: set[int] = set()
    pk = in_place(page)
    while pk is not None:
        item = FlaggedItem.objects.get(pk=pk)
        flagged = item.signals.get().category
        visited.append(item.queue)
        if item.queue == ReviewQueue.CRITICAL and not revealed:
            # The first critical item is read; the next one is judged from its signals.
            page.keyboard.press("c")
            expect(page.get_by_text(item.prompt)).to_be_visible()
            # The text shows as the swap lands; a decision key counts once it has settled
            # (typed within those 20 ms, "v" was dropped and the item stayed: a flaky run).
            settled(page)
            revealed.add(pk)
        if flagged.slug == "harassment" and skipped is None:
            page.keyboard.press("s")  # skipped once: it comes back after the others
            skipped = pk
            pk = next_after(page, after=pk)
            continue
        # Past the first ten categories (harassment) the key is Shift and a digit.
        key = {c.pk: k for k, c in keys().items()}[flagged.pk]
        page.keyboard.press(key.replace("shift+", "Shift+"))
        expect(page.locator(f'input[data-key="{key}"]')).to_be_checked()
        page.keyboard.press("v")
        expected[pk] = ("violation", {keys()[key].slug})
        remaining.discard(pk)
        following = next_after(page, after=pk)
        if undone is None and item.queue == ReviewQueue.STANDARD:
            # The first standard decision is taken back by key, and decided again.
            expect(page.get_by_role("button", name="Undo")).to_be_visible()
            assert following is not None
            page.keyboard.press("u")
            assert next_after(page, after=following) == pk
            expect(page.locator("#decision")).to_be_visible()
            undone = pk
            page.keyboard.press("n")
            expected[pk] = ("no_violation", set())
            following = next_after(page, after=pk)
        pk = following

    screenshot(page, "queue-empty")
    assert not remaining, f"Queue empty while {remaining} waited"
    assert visited[0] == ReviewQueue.CRITICAL and {*visited} == {
        ReviewQueue.CRITICAL,
        ReviewQueue.STANDARD,
        ReviewQueue.AUDIT,
    }
    # Nothing waits for her in any queue she may review, and she holds nothing.
    waiting = FlaggedItem.objects.filter(
        state__in=WAITING_STATES, queue__in=claims.reviewable_queues(reviewer)
    )
    assert not waiting.exists()
    assert not FlaggedItem.objects.filter(claimed_by=reviewer).exists()
    # Every final decision has exactly the categories its keys meant.
    finals = Decision.objects.final().filter(reviewer=reviewer).prefetch_related("categories")
    assert {d.item_id: (d.verdict, {c.slug for c in d.categories.all()}) for d in finals} == (
        expected
    )
    assert len(expected) == len(plan)
    assert Decision.objects.get(item_id=undone, void_reason=VoidReason.UNDONE).verdict == (
        "violation"
    )
    assert AuditEvent.objects.filter(action=AuditAction.ITEM_SKIP, item_id=skipped).count() == 1
    # The critical item judged from its signals alone is on record as such.
    for d in finals.filter(item__queue=ReviewQueue.CRITICAL):
        assert d.content_seen == (d.item_id in revealed)


def test_a_senior_on_the_escalated_queue_stays_in_it_and_reads_why(page, reviewer, senior):
    urgent = backlog_item(ReviewQueue.CRITICAL, "weapons", 4000, "Nerve agent synthesis?")
    escalated = []
    for n, note in enumerate(("Sarcasm or a threat? Unsure.", "Quotes a slur to report it.")):
        item = backlog_item(ReviewQueue.STANDARD, "hate", 10 - n, f"Escalated text {n}")
        claims.claim_next(user=reviewer, queue=ReviewQueue.STANDARD)
        decide(item, Verdict.ESCALATE, reviewer=reviewer, note=note)
        escalated.append((item, note))

    sign_in(page, "sam")
    page.get_by_role("region", name="Pending per queue").get_by_role(
        "link", name=re.compile(r"^Escalated 2 pending")
    ).click()
    expect(page.get_by_role("heading", name="Next in escalated")).to_be_visible()
    page.get_by_role("button", name="Review next").click()

    for item, note in escalated:
        assert in_place(page) == item.pk
        why = page.get_by_role("region", name=re.compile(r"^Escalated by rita"))
        expect(why).to_contain_text(note)
        expect(why.get_by_role("heading")).to_contain_text("just now")
        # Above the decision form, and no Escalate (nor a note "required to escalate") here.
        above = page.evaluate(
            "document.querySelector('.escalation').compareDocumentPosition("
            "document.getElementById('decision')) & Node.DOCUMENT_POSITION_FOLLOWING"
        )
        assert above
        expect(page.get_by_role("button", name="Escalate")).to_have_count(0)
        expect(page.get_by_role("textbox", name="Note")).not_to_have_attribute(
            "placeholder", re.compile("required")
        )
        if item is escalated[0][0]:
            screenshot(page, "item-escalated")
        page.get_by_role("button", name="No violation", exact=True).click()
        expect(page.locator(f'article.review[data-item="{item.pk}"]')).to_have_count(0)

    expect(page.get_by_role("heading", name="Queue empty")).to_be_visible()
    expect(page.get_by_text("Nothing is waiting for you in the Escalated queue")).to_be_visible()
    urgent.refresh_from_db()
    assert urgent.state == ItemState.PENDING, "the critical queue was not hers to drift into"
    assert all(Decision.objects.final().get(item=item).reviewer == senior for item, _ in escalated)


def test_undo_by_key_gives_the_decision_back(page, reviewer):
    first = backlog_item(ReviewQueue.STANDARD, "hate", 9, "First text")
    second = backlog_item(ReviewQueue.STANDARD, "hate", 1, "Second text")
    sign_in(page, "rita")
    page.get_by_role("button", name="Review next").click()
    assert in_place(page) == first.pk
    page.keyboard.press(key_for("hate"))
    page.keyboard.press("v")
    assert next_after(page, after=first.pk) == second.pk
    bar = page.locator(".undo-bar")
    expect(bar).to_contain_text(f"You decided item {first.pk}: Violation (Hate).")
    expect(page.get_by_label("Keyboard shortcuts")).to_contain_text("U Undo")
    screenshot(page, "item-undo-bar")

    page.keyboard.press("u")

    assert next_after(page, after=second.pk) == first.pk
    expect(page).to_have_url(re.compile(rf"/items/{first.pk}/$"))
    expect(page.get_by_role("button", name="Violation", exact=True)).to_be_enabled()
    expect(page.get_by_role("checkbox", name="Hate", exact=True)).not_to_be_checked()
    expect(page.locator(".undo-bar")).to_have_count(0)
    decision = Decision.objects.get(item=first)
    assert (decision.void_reason, decision.voided_by) == (VoidReason.UNDONE, reviewer)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, first.claimed_by) == (ItemState.CLAIMED, reviewer)
    assert (second.state, second.claimed_by) == (ItemState.PENDING, None)
    # The item's history keeps the undone decision, marked as such.
    history = page.get_by_role("region", name="Decisions")
    expect(history).to_contain_text("undone")


@pytest.fixture
def receiver(acme: Any) -> Iterator[Receiver]:
    """acme's enforcement endpoint, checking each request's signature."""
    with receiving(Receiver()) as receiver:
        receiver.secret = enforcement_endpoint_set(
            organization=acme, url=receiver.url, allow_private=True
        )
        yield receiver


def test_a_senior_overturns_and_the_warning_is_lifted_with_a_reinstate(
    page, reviewer, senior, acme, receiver, signed_key
):
    subject = SubjectFactory(organization=acme)
    item = FlaggedItemFactory(subject=subject, prompt="Quoting what they called me, to report it")
    SignalFactory(item=item, category=PolicyCategory.objects.get(slug="hate"), score=0.8)
    claims.claim_next(user=reviewer)
    wrong = decide(item, Verdict.VIOLATION, "hate", reviewer=reviewer, note="slur")
    subject.refresh_from_db()
    assert subject.status == SubjectStatus.WARNED
    assert [r.body["data"]["action"] for r in receiver.accepted()] == ["warn"]

    page.goto(f"/items/{item.pk}/")
    log_in(page, "sam", PASSWORD)
    decisions = page.get_by_role("region", name="Decisions")
    expect(decisions).to_contain_text("Violation")
    expect(decisions).to_contain_text("by rita")
    expect(decisions).to_contain_text("final")
    page.get_by_role("radio", name="No violation", exact=True).check()
    page.get_by_role("textbox", name="Note").fill("Reporting abuse received is not hate.")
    screenshot(page, "item-overturn")

    page.get_by_role("button", name="Overturn").click()

    expect(page.get_by_text("Overturned: the new decision is the final one.")).to_be_visible()
    expect(decisions.locator(".decision-entry").first).to_contain_text("overturned")
    expect(decisions.locator(".decision-entry").last).to_contain_text("final")
    wrong.refresh_from_db()
    final = Decision.objects.final().get(item=item)
    assert (wrong.void_reason, wrong.voided_by, wrong.replaced_by) == (
        VoidReason.OVERTURNED,
        senior,
        final,
    )
    assert (final.verdict, final.reviewer, final.note) == (
        "no_violation",
        senior,
        "Reporting abuse received is not hate.",
    )
    subject.refresh_from_db()
    assert (subject.status, subject.violations) == (SubjectStatus.ACTIVE, 0)
    # The platform is told, signed, with a reason naming the overturned decision.
    reinstates = [r for r in receiver.accepted() if r.body["data"]["action"] == "reinstate"]
    assert len(reinstates) == 1 and reinstates[0].verified
    assert str(wrong.pk) in reinstates[0].body["data"]["reason"]
    assert subject.actions.filter(kind=ActionKind.REINSTATE).count() == 1
    # The platform's own look-up (CONTRACT §4) agrees: active, the overturned violation gone.
    looked_up = signed_key.client.post(
        "/api/v1/subjects/lookup",
        data=json.dumps({"organization": "acme", "user_id_hash": subject.user_id_hash}),
        content_type="application/json",
        headers=signed_key.bearer(),
    )
    assert looked_up.status_code == 200
    assert {k: looked_up.json()[k] for k in ("status", "violations", "reviewed")} == {
        "status": "active",
        "violations": 0,
        "reviewed": 1,
    }


def test_the_undo_offer_goes_when_its_time_is_up(page, reviewer, settings):
    settings.MODQUEUE_UNDO_SECONDS = 3
    first = backlog_item(ReviewQueue.STANDARD, "hate", 9, "First text")
    second = backlog_item(ReviewQueue.STANDARD, "hate", 1, "Second text")
    sign_in(page, "rita")
    page.get_by_role("button", name="Review next").click()
    assert in_place(page) == first.pk
    page.keyboard.press("n")
    assert next_after(page, after=first.pk) == second.pk
    expect(page.locator(".undo-bar")).to_be_visible()

    expect(page.locator(".undo-bar")).to_have_count(0, timeout=6_000)

    page.keyboard.press("u")
    expect(page.locator(f'article.review[data-item="{second.pk}"]')).to_be_visible()
    assert Decision.objects.final().get(item=first).verdict == "no_violation"
