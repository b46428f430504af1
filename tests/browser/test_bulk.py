"""Bulk actions in a real browser (issue 11): a senior approves three proposed removals at
once, one of them resting on their own decision and refused by the four-eyes rule; and
decides all of a user's pending items with one verdict. The platform hears of each action
as it does of single ones."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from moderation.models import (
    ActionKind,
    ActionState,
    AuditAction,
    AuditEvent,
    Decision,
    DeliveryStatus,
    FlaggedItem,
    ItemState,
    Organization,
    SubjectStatus,
    Verdict,
)
from moderation.services.organizations import enforcement_endpoint_set
from tests.factories import FlaggedItemFactory, SubjectFactory, decide, proposal_of
from tests.webhooks import Receiver, receiving

from .conftest import screenshot
from .test_enforcement_pages import row_of, sign_in_at


@pytest.fixture
def receiver(acme: Organization) -> Iterator[Receiver]:
    with receiving(Receiver()) as receiver:
        receiver.secret = enforcement_endpoint_set(
            organization=acme, url=receiver.url, allow_private=True
        )
        yield receiver


def proposed(acme: Organization, by: Any) -> Any:
    subject = SubjectFactory(organization=acme)
    decide(subject, Verdict.VIOLATION, "weapons", reviewer=by)
    subject.refresh_from_db()
    return subject


def test_a_senior_approves_three_removals_at_once_and_one_is_refused(
    page, reviewer, senior, acme, receiver
):
    first, own, second = proposed(acme, reviewer), proposed(acme, senior), proposed(acme, reviewer)
    untouched = proposed(acme, reviewer)
    own_item = own.items.get().pk

    sign_in_at(page, "/enforcement/", "sam")
    for subject in (first, own, second):
        short = subject.user_id_hash[:12]
        page.get_by_role("checkbox", name=f"Select the removal of user {short}… (acme)").check()
    page.get_by_role("button", name="Approve selected").click()

    expect(page.get_by_role("heading", name="Approve 3 removals?")).to_be_visible()
    expect(row_of(page, own)).to_contain_text("refused: four-eyes rule")
    expect(row_of(page, first)).to_contain_text("removed")
    page.get_by_label("Note").fill("Synthesis routes, checked.")
    screenshot(page, "enforcement-bulk")
    assert {s.actions.get(kind=ActionKind.REMOVE).state for s in (first, own, second)} == {
        ActionState.PROPOSED
    }
    page.get_by_role("button", name="Confirm").click()

    expect(page).to_have_url(re.compile(r"/enforcement/$"))
    expect(page.get_by_role("status").filter(has_text="2 approved: ")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text(
        f"1 refused: user {own.user_id_hash[:12]}… (acme): you decided #{own_item} behind it: "
        "four-eyes rule."
    )
    proposals = page.get_by_role("region", name=re.compile(r"^Proposed removals"))
    expect(row_of(proposals, own)).to_have_count(1)
    expect(row_of(proposals, untouched)).to_have_count(1)
    expect(row_of(proposals, first)).to_have_count(0)

    for subject in (first, second):
        subject.refresh_from_db()
        assert subject.status == SubjectStatus.REMOVED
        removal = subject.actions.get(kind=ActionKind.REMOVE)
        assert (removal.state, removal.approved_by, removal.review_note) == (
            ActionState.TAKEN,
            senior,
            "Synthesis routes, checked.",
        )
        # Delivered as a single approval is: a signed `remove` to acme's endpoint.
        assert removal.delivery.status == DeliveryStatus.DELIVERED
    removed = {r.body["data"]["user_id_hash"] for r in receiver.all() if r.verified}
    assert {first.user_id_hash, second.user_id_hash} <= removed
    got = [r for r in receiver.all() if r.body["data"]["action"] == "remove"]
    assert len(got) == 2 and all(r.verified for r in got)
    assert proposal_of(own).approved_by is None


def test_a_senior_decides_all_pending_items_of_a_user(page, reviewer, senior, acme, receiver):
    subject = SubjectFactory(organization=acme)
    waiting = [FlaggedItemFactory(subject=subject, prompt=f"Wire me £{n}00") for n in range(3)]
    held = FlaggedItemFactory(subject=subject, state=ItemState.CLAIMED, claimed_by=reviewer)
    url = f"/subjects/acme/{subject.user_id_hash}/"

    sign_in_at(page, url, "sam")
    form = page.get_by_role("region", name="Pending items")
    expect(form).to_contain_text("3 items of this user wait for a decision you may make")
    form.get_by_role("radio", name="Violation", exact=True).check()
    form.get_by_role("checkbox", name="Fraud and scams").check()
    form.get_by_label("Note").fill("The same advance-fee script each time.")
    form.get_by_role("button", name="Decide all pending").click()

    expect(page.get_by_role("heading", name="Decide 3 items?")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text=f"#{held.pk}")).to_contain_text("held by rita")
    screenshot(page, "subject-decide-all")
    assert not Decision.objects.filter(item__subject=subject).exists()
    page.get_by_role("button", name="Confirm").click()

    expect(page).to_have_url(re.compile(rf"{re.escape(url)}$"))
    expect(page.get_by_role("status").filter(has_text="3 items decided")).to_contain_text(
        "3 items decided as Violation, each its own decision."
    )
    expect(page.get_by_role("status").filter(has_text="left as they were")).to_contain_text(
        f"#{held.pk}: held by rita"
    )
    for item in waiting:
        item.refresh_from_db()
        assert item.state == ItemState.DECIDED
        assert AuditEvent.objects.filter(
            action=AuditAction.ITEM_DECIDE, item=item, actor=senior
        ).exists()
    assert FlaggedItem.objects.get(pk=held.pk).state == ItemState.CLAIMED
    subject.refresh_from_db()
    # Three fraud violations: warned, then restricted, as one by one; each action delivered.
    assert (subject.violations, subject.reviewed, subject.status) == (
        3,
        3,
        SubjectStatus.RESTRICTED,
    )
    kinds = [r.body["data"]["action"] for r in receiver.all() if r.verified]
    assert kinds == ["warn", "restrict"]
    expect(page.get_by_role("region", name="Actions")).to_contain_text("Restrict")
