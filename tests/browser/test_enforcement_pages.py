"""The enforcement, thresholds and appeals pages in a real browser (CONTRACT §8), found by
their accessible names: proposed removals approved and rejected, thresholds previewed and
saved, an appeal upheld; and the thresholds page closed to a reviewer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from moderation.models import (
    ActionKind,
    ActionState,
    Appeal,
    AppealState,
    DeliveryStatus,
    EnforcementAction,
    Organization,
    Subject,
    SubjectStatus,
    ThresholdChange,
    Verdict,
)
from moderation.services import appeals, enforcement
from moderation.services.organizations import enforcement_endpoint_set
from tests.factories import PASSWORD, SubjectFactory, decide
from tests.processes import free_port
from tests.webhooks import Receiver, receiving

from .conftest import log_in, screenshot


@pytest.fixture
def receiver(acme: Organization) -> Iterator[Receiver]:
    """acme's enforcement endpoint; globex's refuses every connection."""
    with receiving(Receiver()) as receiver:
        receiver.secret = enforcement_endpoint_set(
            organization=acme, url=receiver.url, allow_private=True
        )
        yield receiver


def violations(
    subject: Subject, reviewer: Any, count: int, category: str = "fraud", clean: int = 0
) -> Subject:
    verdicts = [Verdict.VIOLATION] * count + [Verdict.NO_VIOLATION] * clean
    for verdict in verdicts:
        decide(subject, verdict, category, reviewer=reviewer)
    subject.refresh_from_db()
    return subject


def sign_in_at(page: Page, url: str, username: str) -> None:
    page.goto(url)
    log_in(page, username, PASSWORD)
    expect(page).to_have_url(re.compile(rf"{re.escape(url)}$"))


def row_of(within: Page | Locator, subject: Subject) -> Locator:
    return within.get_by_role("row").filter(has_text=subject.user_id_hash[:12])


def test_a_senior_approves_one_removal_and_rejects_another(
    page, reviewer, senior, acme, globex, receiver
):
    enforcement_endpoint_set(
        organization=globex, url=f"http://127.0.0.1:{free_port()}/hook", allow_private=True
    )
    removed = violations(SubjectFactory(organization=acme), reviewer, 1, "weapons")
    kept = violations(SubjectFactory(organization=globex), reviewer, 1, "child-safety")
    restricted = violations(SubjectFactory(organization=acme), reviewer, 3)
    assert (removed.status, kept.status, restricted.status) == (SubjectStatus.WARNED,) * 2 + (
        SubjectStatus.RESTRICTED,
    )

    sign_in_at(page, "/enforcement/", "sam")
    expect(page.get_by_role("heading", name="Enforcement", exact=True)).to_be_visible()
    proposals = page.get_by_role("region", name=re.compile(r"^Proposed removals"))
    expect(proposals.get_by_role("button", name="Approve")).to_have_count(2)
    expect(proposals.get_by_role("button", name="Reject")).to_have_count(2)
    deliveries = page.get_by_role("region", name="Deliveries to the platforms")
    expect(deliveries.get_by_text("Delivered")).to_have_count(3)
    expect(deliveries.get_by_text("Pending")).to_have_count(1)
    screenshot(page, "enforcement")

    row = row_of(page, removed)
    item = removed.items.get()
    expect(row.get_by_role("link", name=f"item #{item.pk}")).to_have_attribute(
        "href", f"/items/{item.pk}/"
    )
    row.get_by_label(re.compile(r"^Note for user")).fill("Synthesis route, confirmed.")
    row.get_by_role("button", name="Approve").click()

    # Approving asks first, saying what will happen; nothing has changed yet.
    expect(page.get_by_role("heading", name="Approve this removal?")).to_be_visible()
    expect(page.get_by_role("region", name="What happens when you approve")).to_contain_text(
        "The platform is told by webhook"
    )
    expect(page.get_by_label("Note")).to_have_value("Synthesis route, confirmed.")
    expect(page.get_by_role("link", name="Cancel")).to_have_attribute("href", "/enforcement/")
    screenshot(page, "enforcement-confirm")
    removed.refresh_from_db()
    assert removed.status == SubjectStatus.WARNED
    page.get_by_role("button", name="Approve removal").click()
    expect(page.get_by_text("Removal approved; the platform is being told.")).to_be_visible()
    expect(row_of(proposals, removed)).to_have_count(0)
    removed.refresh_from_db()
    assert removed.status == SubjectStatus.REMOVED
    removal = removed.actions.get(kind=ActionKind.REMOVE)
    assert (removal.state, removal.approved_by, removal.review_note) == (
        ActionState.TAKEN,
        senior,
        "Synthesis route, confirmed.",
    )
    # Sent to acme's endpoint as the transaction committed, signed.
    assert removal.delivery.status == DeliveryStatus.DELIVERED
    got = [r for r in receiver.all() if r.body["data"]["action"] == "remove"]
    assert len(got) == 1 and got[0].verified
    expect(row_of(deliveries, removed).filter(has_text="Remove")).to_contain_text("Delivered")

    row_of(page, kept).get_by_role("button", name="Reject").click()
    expect(page.get_by_text("Removal rejected.")).to_be_visible()
    expect(page.get_by_text("No removal is waiting.")).to_be_visible()
    kept.refresh_from_db()
    assert kept.status == SubjectStatus.WARNED
    assert kept.actions.get(kind=ActionKind.REMOVE).state == ActionState.REJECTED


def test_who_decided_an_item_behind_a_removal_cannot_approve_it(
    page, new_page, reviewer, senior, admin_user, acme
):
    subject = violations(SubjectFactory(organization=acme), senior, 1, "weapons")
    item = subject.items.get()
    cancelled = violations(SubjectFactory(organization=acme), reviewer, 1, "child-safety")

    sign_in_at(page, "/enforcement/", "sam")
    proposals = page.get_by_role("region", name=re.compile(r"^Proposed removals"))
    own = row_of(proposals, subject)
    expect(own.get_by_role("button", name="Approve")).to_have_count(0)
    expect(own.get_by_role("button", name="Reject")).to_be_visible()
    expect(own).to_contain_text(f"You decided #{item.pk} behind it: another senior or admin")
    screenshot(page, "enforcement-four-eyes")

    # Cancel on the confirmation leaves the other proposal waiting.
    row_of(proposals, cancelled).get_by_role("button", name="Approve").click()
    page.get_by_role("link", name="Cancel").click()
    expect(page).to_have_url(re.compile(r"/enforcement/$"))
    expect(row_of(proposals, cancelled).get_by_role("button", name="Approve")).to_be_visible()
    cancelled.refresh_from_db()
    assert cancelled.status == SubjectStatus.WARNED

    # A hand-made POST gets the refusal, shown as an error.
    proposal = subject.actions.get(state=ActionState.PROPOSED)
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(
        f"/enforcement/{proposal.pk}/decide/",
        form={"decision": "approve", "confirmed": "1"},
        headers={"X-CSRFToken": csrf},
    )
    assert response.status == 403
    assert "You decided an item behind this proposal" in response.text()
    proposal.refresh_from_db()
    assert proposal.state == ActionState.PROPOSED

    # Another senior or admin approves it.
    admin_page = new_page()
    sign_in_at(admin_page, "/enforcement/", "ada")
    row_of(admin_page, subject).get_by_role("button", name="Approve").click()
    admin_page.get_by_role("button", name="Approve removal").click()
    expect(admin_page.get_by_text("Removal approved")).to_be_visible()
    subject.refresh_from_db()
    assert subject.status == SubjectStatus.REMOVED


def test_the_attempts_of_a_delivery_are_shown(page, reviewer, senior, globex):
    enforcement_endpoint_set(
        organization=globex, url=f"http://127.0.0.1:{free_port()}/hook", allow_private=True
    )
    subject = violations(SubjectFactory(organization=globex), reviewer, 1)

    sign_in_at(page, "/enforcement/", "sam")
    row = row_of(page.get_by_role("region", name="Deliveries to the platforms"), subject)
    expect(row).to_contain_text("Pending")
    row.get_by_text("1 attempt").click()
    expect(row.get_by_role("listitem")).to_contain_text(re.compile(r"no answer · \d+ ms"))
    expect(row.get_by_role("listitem")).to_contain_text("Connection refused")
    assert subject.actions.get().delivery.attempts == 1


def test_an_admin_previews_and_saves_the_thresholds(page, reviewer, admin_user, acme):
    crossing = violations(SubjectFactory(organization=acme), reviewer, 2)
    below = violations(SubjectFactory(organization=acme), reviewer, 2, clean=3)

    sign_in_at(page, "/settings/thresholds/", "ada")
    expect(page.get_by_role("heading", name="Thresholds", exact=True)).to_be_visible()
    restrict = page.get_by_role("group", name="Restrict (automatic)")
    expect(restrict.get_by_label("Violations at least")).to_have_value("3")
    restrict.get_by_label("Violations at least").fill("2")

    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("status")).to_contain_text("1 user would change status")
    expect(restrict.get_by_label("Violations at least")).to_have_value("2")
    assert not ThresholdChange.objects.exists()
    crossing.refresh_from_db()
    assert crossing.status == SubjectStatus.WARNED

    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Thresholds saved; 1 user changed status under them.")).to_be_visible()
    history = page.get_by_role("table")
    expect(history.get_by_role("row")).to_have_count(2)
    expect(history.get_by_role("row").nth(1).get_by_role("cell")).to_have_text(
        [
            re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d$"),
            "ada",
            "global",
            "restrict_violations: 3 → 2",
            "1",
        ]
    )
    screenshot(page, "thresholds")
    crossing.refresh_from_db()
    below.refresh_from_db()
    assert (crossing.status, below.status) == (SubjectStatus.RESTRICTED, SubjectStatus.WARNED)
    change = ThresholdChange.objects.get()
    assert (change.changed_by, change.after["restrict_violations"]) == (admin_user, 2)


def appeal_of(action: EnforcementAction, message: str) -> Appeal:
    return appeals.appeal_create(
        organization=action.subject.organization,
        user_id_hash=action.subject.user_id_hash,
        action_id=str(action.pk),
        message=message,
    )


def test_a_senior_upholds_an_appeal_and_the_user_is_reinstated(
    page, reviewer, senior, admin_user, acme, globex, receiver
):
    restricted = violations(SubjectFactory(organization=acme), reviewer, 3, "harassment")
    appeal = appeal_of(
        restricted.actions.get(kind=ActionKind.RESTRICT),
        "Those messages were lines from a play I am writing; the 'threats' are a villain's. "
        "My agent can confirm: agent@plays.example.",
    )
    by_sam = enforcement.action_by_hand(
        subject=SubjectFactory(organization=globex),
        kind=ActionKind.WARN,
        user=senior,
        reason="Repeated attempts to get phishing templates.",
    )
    appeal_of(by_sam, "I run phishing-awareness training for my company.")

    sign_in_at(page, "/appeals/", "sam")
    expect(page.get_by_role("heading", name="Appeals", exact=True)).to_be_visible()
    cards = page.get_by_role("article")
    expect(cards).to_have_count(2)
    own = cards.filter(has_text=by_sam.subject.user_id_hash[:12])
    expect(own).to_contain_text("You took or approved this action")
    expect(own.get_by_role("button")).to_have_count(0)
    card = cards.filter(has_text=restricted.user_id_hash[:12])
    expect(card.get_by_role("button", name="Deny")).to_be_visible()
    # The user's own words, personal data masked as on an item, revealed with a reason.
    expect(card).to_contain_text("My agent can confirm: [email]")
    expect(card).not_to_contain_text("agent@plays.example")
    screenshot(page, "appeals")
    card.get_by_label("Why you need to see it").fill("Is the agent a real contact?")
    card.get_by_role("button", name="Reveal").click()
    card = page.get_by_role("article").filter(has_text=restricted.user_id_hash[:12])
    expect(card).to_contain_text("agent@plays.example")
    expect(card.get_by_role("button", name="Reveal")).to_have_count(0)

    card.get_by_label("Reason").fill("Fiction, consistent with the rest of the account.")
    card.get_by_role("button", name="Uphold").click()
    expect(
        page.get_by_text("Appeal upheld: the user is reinstated and the platform told.")
    ).to_be_visible()
    expect(page.get_by_role("article")).to_have_count(1)
    decided = page.get_by_role("region", name="Recently decided")
    expect(decided).to_contain_text("Upheld")
    expect(decided).to_contain_text("Fiction, consistent with the rest of the account.")

    appeal.refresh_from_db()
    restricted.refresh_from_db()
    assert (appeal.state, appeal.decided_by) == (AppealState.UPHELD, senior)
    assert restricted.status == SubjectStatus.ACTIVE
    sent = [r.body["data"] for r in receiver.all()]
    assert [d["action"] for d in sent] == ["warn", "restrict", "reinstate"]
    assert sent[-1]["decided_by"] == "appeal"


def test_a_reviewer_gets_403_on_the_thresholds_page(page, reviewer):
    sign_in_at(page, "/queue/", "rita")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Queue")).to_be_visible()
    expect(nav.get_by_role("link", name="Thresholds")).to_have_count(0)
    response = page.goto("/settings/thresholds/")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_role("spinbutton")).to_have_count(0)
