"""Bulk actions for seniors (issue 11): several removal proposals approved or rejected at
once, the four-eyes rule applied to each; and all of a user's pending items decided with one
verdict, each its own audited decision, with the same outcome as deciding them one by one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from moderation.models import (
    ActionState,
    AuditAction,
    AuditEvent,
    Decision,
    FlaggedItem,
    ItemState,
    ReviewQueue,
    SubjectStatus,
    Verdict,
)
from moderation.services import bulk, enforcement
from moderation.services.review import DecisionInvalid, decision_record
from tests.factories import (
    FlaggedItemFactory,
    GoldItemFactory,
    SecondReviewFactory,
    SubjectFactory,
    categories,
    decide,
    proposal_of,
)

pytestmark = pytest.mark.django_db

V, N, E = Verdict.VIOLATION, Verdict.NO_VIOLATION, Verdict.ESCALATE


def proposed(acme: Any, by: Any) -> Any:
    """A user of acme with one weapons violation decided by `by`: warned, removal proposed."""
    subject = SubjectFactory(organization=acme)
    decide(subject, V, "weapons", reviewer=by)
    return proposal_of(subject)


# --- proposals ----------------------------------------------------------------------------


def test_bulk_approval_refuses_the_one_resting_on_the_seniors_own_decision(
    acme, endpoint, reviewer, senior
):
    first, second = proposed(acme, reviewer), proposed(acme, reviewer)
    own = proposed(acme, senior)
    own_item = own.basis.get().item_id

    result = bulk.proposals_decide(
        actions=[first, own, second], user=senior, decision="approve", note="confirmed"
    )

    assert [a.pk for a in result.done] == [first.pk, second.pk]
    assert [(a.pk, why) for a, why in result.refused] == [
        (own.pk, f"you decided #{own_item} behind it: four-eyes rule")
    ]
    assert result.stale == []
    for action in (first, second):
        action.refresh_from_db()
        assert (action.state, action.approved_by, action.review_note) == (
            ActionState.TAKEN,
            senior,
            "confirmed",
        )
        assert action.subject.status == SubjectStatus.REMOVED
        # Audited as a single approval is, and delivered as one.
        assert AuditEvent.objects.filter(
            action=AuditAction.ENFORCEMENT_TAKEN, actor=senior, subject=action.subject
        ).exists()
        assert action.delivery.payload["data"]["action"] == "remove"
    own.refresh_from_db()
    assert own.state == ActionState.PROPOSED and own.approved_by is None
    assert own.subject.status == SubjectStatus.WARNED


def test_a_proposal_settled_since_it_was_selected_is_reported_as_stale(
    acme, reviewer, senior, admin_user
):
    taken, rejected, fresh = (proposed(acme, reviewer) for _ in range(3))
    enforcement.removal_approve(action=taken, user=admin_user)
    enforcement.removal_reject(action=rejected, user=admin_user, note="fiction")

    result = bulk.proposals_decide(
        actions=[taken, rejected, fresh], user=senior, decision="approve"
    )

    assert [a.pk for a in result.done] == [fresh.pk]
    assert result.refused == []
    assert [(a.pk, why) for a, why in result.stale] == [
        (taken.pk, "already approved by ada"),
        (rejected.pk, "already rejected by ada"),
    ]
    rejected.refresh_from_db()
    assert rejected.state == ActionState.REJECTED and rejected.approved_by == admin_user


def test_bulk_rejection_is_open_to_who_decided_an_item_behind_and_audited(acme, reviewer, senior):
    own, other = proposed(acme, senior), proposed(acme, reviewer)

    result = bulk.proposals_decide(
        actions=[own, other], user=senior, decision="reject", note="fiction"
    )

    assert [a.pk for a in result.done] == [own.pk, other.pk]
    assert result.refused == [] and result.stale == []
    for action in (own, other):
        action.refresh_from_db()
        assert (action.state, action.review_note) == (ActionState.REJECTED, "fiction")
        event = AuditEvent.objects.get(
            action=AuditAction.ENFORCEMENT_REJECTED, subject=action.subject
        )
        assert event.actor == senior and event.detail["action"] == str(action.pk)


def test_a_reviewer_decides_no_proposal_in_bulk(acme, reviewer):
    action = proposed(acme, reviewer)
    with pytest.raises(bulk.BulkRefused):
        bulk.proposals_decide(actions=[action], user=reviewer, decision="approve")
    action.refresh_from_db()
    assert action.state == ActionState.PROPOSED


# --- all of one user's pending items -------------------------------------------------------


def claimed(subject: Any, by: Any, *, expired: bool = False) -> FlaggedItem:
    now = timezone.now()
    lease = now - timedelta(minutes=1) if expired else now + timedelta(minutes=5)
    return FlaggedItemFactory(
        subject=subject,
        state=ItemState.CLAIMED,
        claimed_by=by,
        claimed_at=now - timedelta(minutes=10),
        lease_expires_at=lease,
    )


@pytest.fixture
def user_items(acme: Any, reviewer: Any, senior: Any) -> dict[str, Any]:
    """An end user of acme with an item of each kind the bulk decision meets."""
    subject = SubjectFactory(organization=acme)
    escalated = FlaggedItemFactory(subject=subject)
    decide(escalated, E, reviewer=reviewer, note="not sure")
    return {
        "subject": subject,
        "waiting": [FlaggedItemFactory(subject=subject) for _ in range(2)],
        "escalated": escalated,
        "own_claim": claimed(subject, senior),
        "held": claimed(subject, reviewer),
        "lapsed": claimed(subject, reviewer, expired=True),
        "decided": decide(subject, N, reviewer=reviewer).item,
        "second_review": SecondReviewFactory(
            item=FlaggedItemFactory(subject=subject, state=ItemState.PENDING)
        ).item,
        "gold": FlaggedItemFactory(
            subject=subject, gold=GoldItemFactory(organization=acme), state=ItemState.CLAIMED
        ),
    }


def test_it_decides_each_pending_item_as_its_own_audited_decision(user_items, senior):
    subject = user_items["subject"]
    expected = {i.pk for i in user_items["waiting"]} | {
        user_items["escalated"].pk,
        user_items["own_claim"].pk,
    }

    result = bulk.subject_decide_all(
        subject=subject,
        user=senior,
        verdict=V,
        categories=categories("fraud"),
        note="The same scam script, every time.",
    )

    assert {d.item_id for d in result.decided} == expected
    for decision in result.decided:
        assert decision.reviewer == senior and decision.voided_at is None
        assert decision.note == "The same scam script, every time."
        assert [c.slug for c in decision.categories.all()] == ["fraud"]
        assert FlaggedItem.objects.get(pk=decision.item_id).state == ItemState.DECIDED
        event = AuditEvent.objects.get(action=AuditAction.ITEM_DECIDE, item_id=decision.item_id)
        assert event.actor == senior and event.detail["decision"] == decision.pk
    # The escalated item went through the senior's queue like a single decision would.
    escalated = Decision.objects.get(
        item=user_items["escalated"], voided_at__isnull=True, verdict=V
    )
    assert escalated.from_queue == ReviewQueue.ESCALATED


def test_items_held_by_others_waiting_for_a_second_review_or_golden_are_left(user_items, senior):
    result = bulk.subject_decide_all(
        subject=user_items["subject"], user=senior, verdict=N, categories=[], note="benign"
    )

    assert {(i.pk, why) for i, why in result.skipped} == {
        (user_items["held"].pk, "held by rita"),
        (user_items["lapsed"].pk, "held by rita"),
        (user_items["second_review"].pk, "waiting for a blind second review"),
    }
    for key in ("held", "lapsed", "second_review", "gold"):
        item = user_items[key]
        before_state = item.state
        item.refresh_from_db()
        assert item.state == before_state
        assert not item.decisions.filter(reviewer=senior).exists()
    decided = user_items["decided"]
    assert decided.decisions.count() == 1


def test_a_reviewer_decides_nobodys_items_in_bulk(user_items, reviewer):
    with pytest.raises(bulk.BulkRefused):
        bulk.subject_decide_all(
            subject=user_items["subject"], user=reviewer, verdict=N, categories=[], note="x"
        )
    assert (
        not Decision.objects.filter(reviewer=reviewer, verdict=N)
        .exclude(item=user_items["decided"])
        .exists()
    )


@pytest.mark.parametrize(
    ("verdict", "slugs", "note", "field"),
    [
        (V, (), "scam", "categories"),
        (N, ("fraud",), "scam", "categories"),
        (V, ("fraud",), "   ", "note"),
        (E, (), "unsure", "verdict"),
        (None, (), "scam", "verdict"),
    ],
)
def test_bad_input_decides_nothing(user_items, senior, verdict, slugs, note, field):
    count = Decision.objects.count()
    with pytest.raises(DecisionInvalid) as invalid:
        bulk.subject_decide_all(
            subject=user_items["subject"],
            user=senior,
            verdict=verdict,
            categories=categories(*slugs),
            note=note,
        )
    assert invalid.value.field == field
    assert Decision.objects.count() == count


def _twin_users(acme: Any, reviewer: Any) -> list[Any]:
    """Two users of acme in the same situation: one violation decided, four items waiting."""
    twins = []
    for _ in range(2):
        subject = SubjectFactory(organization=acme)
        decide(subject, V, "fraud", reviewer=reviewer)
        for _ in range(4):
            FlaggedItemFactory(subject=subject)
        twins.append(subject)
    return twins


def _outcome(subject: Any) -> tuple[Any, ...]:
    subject.refresh_from_db()
    actions = [
        (a.kind, a.state, a.decided_by, a.violations, a.reviewed, sorted(a.categories))
        for a in subject.actions.order_by("created_at")
    ]
    return (subject.status, subject.violations, subject.reviewed, subject.violation_rate, actions)


def test_the_outcome_equals_deciding_the_items_one_by_one(acme, reviewer, senior):
    at_once, one_by_one = _twin_users(acme, reviewer)

    result = bulk.subject_decide_all(
        subject=at_once,
        user=senior,
        verdict=V,
        categories=categories("weapons"),
        note="Synthesis routes.",
    )
    for item in one_by_one.items.filter(state=ItemState.PENDING).order_by("pk"):
        decision_record(
            item=item,
            reviewer=senior,
            verdict=V,
            categories=categories("weapons"),
            note="Synthesis routes.",
        )

    assert len(result.decided) == 4
    assert _outcome(at_once) == _outcome(one_by_one)
    status, violations, reviewed, _, actions = _outcome(at_once)
    # Warned after the first, restricted on the way, and a removal proposed (critical).
    assert (status, violations, reviewed) == (SubjectStatus.RESTRICTED, 5, 5)
    assert ("remove", ActionState.PROPOSED) in [(kind, state) for kind, state, *_ in actions]


def test_an_item_decided_by_someone_else_meanwhile_is_skipped_not_an_error(
    acme, reviewer, senior, monkeypatch
):
    subject = SubjectFactory(organization=acme)
    first, taken, last = (FlaggedItemFactory(subject=subject) for _ in range(3))
    listed = bulk.subject_pending

    def pending_then_rita_decides(**kwargs: Any) -> bulk.Pending:
        found = listed(**kwargs)
        decide(taken, N, reviewer=reviewer)  # between the listing and the decisions
        return found

    monkeypatch.setattr(bulk, "subject_pending", pending_then_rita_decides)
    result = bulk.subject_decide_all(
        subject=subject, user=senior, verdict=V, categories=categories("fraud"), note="scam"
    )

    assert [d.item_id for d in result.decided] == [first.pk, last.pk]
    assert [(i.pk, why) for i, why in result.skipped] == [
        (taken.pk, "This item has already been decided; your decision was not recorded.")
    ]
    assert Decision.objects.get(item=taken).reviewer == reviewer
