"""Decisions: final, once, by whoever holds the item, with the record to show for it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, transaction
from django.utils import timezone

from moderation.models import (
    AuditAction,
    AuditEvent,
    Decision,
    FlaggedItem,
    ItemState,
    ReviewQueue,
    Verdict,
)
from moderation.services import claims
from moderation.services.review import ClaimConflict, DecisionInvalid, decision_record
from tests.factories import FlaggedItemFactory, category

pytestmark = pytest.mark.django_db


@pytest.fixture
def claimed(reviewer):
    FlaggedItemFactory()
    return claims.claim_next(user=reviewer)


def test_it_records_a_violation_with_its_categories(claimed, reviewer):
    decision = decision_record(
        item=claimed,
        reviewer=reviewer,
        verdict=Verdict.VIOLATION,
        categories=[category("violence"), category("hate")],
        note=" threat ",
    )
    claimed.refresh_from_db()
    assert claimed.state == ItemState.DECIDED and claimed.decided_at is not None
    assert claimed.claimed_by is None and claimed.lease_expires_at is None
    assert decision.reviewer == reviewer and decision.note == "threat"
    assert {c.slug for c in decision.categories.all()} == {"violence", "hate"}
    assert decision.claimed_at <= decision.decided_at
    event = AuditEvent.objects.get(action=AuditAction.ITEM_DECIDE)
    assert event.actor == reviewer and event.item == claimed
    assert event.detail["verdict"] == "violation" and event.detail["categories"] == [
        "hate",
        "violence",
    ]


def test_it_records_time_spent(claimed, reviewer):
    FlaggedItem.objects.filter(pk=claimed.pk).update(
        claimed_at=timezone.now() - timedelta(seconds=42)
    )
    claimed.refresh_from_db()
    decision = decision_record(
        item=claimed, reviewer=reviewer, verdict=Verdict.NO_VIOLATION, categories=[], note=""
    )
    assert 42 <= decision.seconds_spent <= 44


def test_a_violation_needs_a_category(claimed, reviewer):
    with pytest.raises(DecisionInvalid) as invalid:
        decision_record(
            item=claimed, reviewer=reviewer, verdict=Verdict.VIOLATION, categories=[], note=""
        )
    assert invalid.value.field == "categories"
    assert not Decision.objects.exists()
    claimed.refresh_from_db()
    assert claimed.state == ItemState.CLAIMED


def test_no_violation_with_categories_is_refused(claimed, reviewer):
    with pytest.raises(DecisionInvalid):
        decision_record(
            item=claimed,
            reviewer=reviewer,
            verdict=Verdict.NO_VIOLATION,
            categories=[category("hate")],
            note="",
        )


def test_escalating_needs_a_note_and_moves_the_item_to_seniors(claimed, reviewer):
    with pytest.raises(DecisionInvalid) as invalid:
        decision_record(
            item=claimed, reviewer=reviewer, verdict=Verdict.ESCALATE, categories=[], note="  "
        )
    assert invalid.value.field == "note"
    decision_record(
        item=claimed,
        reviewer=reviewer,
        verdict=Verdict.ESCALATE,
        categories=[],
        note="unsure: satire?",
    )
    claimed.refresh_from_db()
    assert claimed.state == ItemState.ESCALATED and claimed.queue == ReviewQueue.ESCALATED
    assert AuditEvent.objects.filter(action=AuditAction.ITEM_ESCALATE, item=claimed).exists()


def test_a_senior_decides_an_escalated_item(claimed, reviewer, senior):
    decision_record(
        item=claimed, reviewer=reviewer, verdict=Verdict.ESCALATE, categories=[], note="?"
    )
    item = claims.claim_next(user=senior)
    assert item == claimed
    decision_record(
        item=item,
        reviewer=senior,
        verdict=Verdict.VIOLATION,
        categories=[category("hate")],
        note="",
    )
    item.refresh_from_db()
    assert item.state == ItemState.DECIDED
    assert [d.verdict for d in item.decisions.all()] == ["escalate", "violation"]


def test_a_reviewer_cannot_decide_an_escalated_item(claimed, reviewer):
    decision_record(
        item=claimed, reviewer=reviewer, verdict=Verdict.ESCALATE, categories=[], note="?"
    )
    with pytest.raises(ClaimConflict):
        decision_record(
            item=claimed, reviewer=reviewer, verdict=Verdict.NO_VIOLATION, categories=[], note=""
        )


def test_an_escalated_item_cannot_be_escalated_again(claimed, reviewer, senior):
    decision_record(
        item=claimed, reviewer=reviewer, verdict=Verdict.ESCALATE, categories=[], note="?"
    )
    with pytest.raises(DecisionInvalid):
        decision_record(
            item=claimed, reviewer=senior, verdict=Verdict.ESCALATE, categories=[], note="again"
        )


def test_a_second_decision_is_a_conflict_never_a_second_record(claimed, reviewer, senior):
    decision_record(
        item=claimed, reviewer=reviewer, verdict=Verdict.NO_VIOLATION, categories=[], note=""
    )
    for who in (reviewer, senior):
        with pytest.raises(ClaimConflict, match="already been decided"):
            decision_record(
                item=claimed,
                reviewer=who,
                verdict=Verdict.VIOLATION,
                categories=[category("hate")],
                note="",
            )
    assert Decision.objects.count() == 1


def test_a_decision_after_the_lease_passed_to_another_is_a_conflict(claimed, reviewer, senior):
    claims.claims_expire(now=timezone.now() + timedelta(minutes=11))
    assert claims.claim_next(user=senior) == claimed
    claimed.refresh_from_db()
    since = timezone.localtime(claimed.claimed_at).strftime("%H:%M")
    with pytest.raises(ClaimConflict) as conflict:
        decision_record(
            item=claimed, reviewer=reviewer, verdict=Verdict.NO_VIOLATION, categories=[], note=""
        )
    assert str(conflict.value) == (
        f"Another reviewer (sam) has held this item since {since}; your decision was not recorded."
    )
    assert not Decision.objects.exists()
    claimed.refresh_from_db()
    assert claimed.claimed_by == senior


def test_a_decision_after_an_expired_lease_nobody_took_is_recorded(claimed, reviewer):
    claims.claims_expire(now=timezone.now() + timedelta(minutes=11))
    decision_record(
        item=claimed, reviewer=reviewer, verdict=Verdict.NO_VIOLATION, categories=[], note=""
    )
    claimed.refresh_from_db()
    assert claimed.state == ItemState.DECIDED


def test_the_database_refuses_a_second_final_decision(claimed, reviewer):
    decision_record(
        item=claimed, reviewer=reviewer, verdict=Verdict.NO_VIOLATION, categories=[], note=""
    )
    with pytest.raises(DatabaseError), transaction.atomic():
        Decision.objects.create(
            item=claimed, reviewer=reviewer, verdict=Verdict.VIOLATION, claimed_at=timezone.now()
        )


def test_the_audit_log_refuses_updates_and_deletes(claimed, reviewer):
    event = AuditEvent.objects.filter(item=claimed).first()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action=AuditAction.ITEM_VIEW)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.filter(pk=event.pk, action=AuditAction.ITEM_CLAIM).exists()


# --- only an item that is pending, escalated (seniors) or held by the decider -------------


def no_violation(item: FlaggedItem, who) -> Decision:
    return decision_record(
        item=item, reviewer=who, verdict=Verdict.NO_VIOLATION, categories=[], note=""
    )


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (ItemState.ALLOWED, "allowed under a policy exception"),
        (ItemState.ERASED, "erased"),
    ],
)
def test_it_refuses_an_item_that_takes_no_decision(reviewer, state, message):
    item = FlaggedItemFactory(state=state)
    with pytest.raises(ClaimConflict, match=message):
        decision_record(
            item=item,
            reviewer=reviewer,
            verdict=Verdict.VIOLATION,
            categories=[category("hate")],
            note="",
        )
    assert not Decision.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.ITEM_DECIDE).exists()
    item.refresh_from_db()
    assert item.state == state
    item.subject.refresh_from_db()
    assert item.subject.status == "active" and not item.subject.actions.exists()


def test_it_refuses_an_item_another_reviewer_holds_and_says_who_and_since_when(claimed, senior):
    since = timezone.localtime(claimed.claimed_at).strftime("%H:%M")
    with pytest.raises(ClaimConflict) as conflict:
        no_violation(claimed, senior)
    assert str(conflict.value) == (
        f"Another reviewer (rita) has held this item since {since}; your decision was not recorded."
    )
    assert not Decision.objects.exists()


def test_it_refuses_an_item_another_holds_even_once_their_lease_ran_out(claimed, senior):
    # The workers have not taken the item back yet: it is still rita's, not anyone's.
    FlaggedItem.objects.filter(pk=claimed.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=5)
    )
    with pytest.raises(ClaimConflict, match=r"Another reviewer \(rita\) has held this item"):
        no_violation(claimed, senior)
    assert not Decision.objects.exists()
    claimed.refresh_from_db()
    assert claimed.state == ItemState.CLAIMED and claimed.claimed_by.username == "rita"


def test_the_holder_decides_after_their_own_lease_ran_out(claimed, reviewer):
    FlaggedItem.objects.filter(pk=claimed.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=5)
    )
    no_violation(claimed, reviewer)
    claimed.refresh_from_db()
    assert claimed.state == ItemState.DECIDED


def test_a_senior_decides_an_escalated_item_nobody_holds(reviewer, senior):
    item = FlaggedItemFactory(queue=ReviewQueue.ESCALATED, state=ItemState.ESCALATED)
    decision = no_violation(item, senior)
    assert decision.from_queue == ReviewQueue.ESCALATED
    with pytest.raises(ClaimConflict):
        no_violation(
            FlaggedItemFactory(queue=ReviewQueue.ESCALATED, state=ItemState.ESCALATED), reviewer
        )


def test_a_user_without_a_role_cannot_decide(db):
    from django.contrib.auth import get_user_model

    nobody = get_user_model().objects.create_user("nobody", password="x")
    item = FlaggedItemFactory()
    with pytest.raises(ClaimConflict, match="no role"):
        no_violation(item, nobody)
    assert not Decision.objects.exists()
    item.refresh_from_db()
    assert item.state == ItemState.PENDING


def test_it_records_the_queue_the_item_was_decided_from(reviewer, senior):
    critical = FlaggedItemFactory(queue=ReviewQueue.CRITICAL)
    escalation = decision_record(
        item=critical, reviewer=reviewer, verdict=Verdict.ESCALATE, categories=[], note="?"
    )
    assert escalation.from_queue == ReviewQueue.CRITICAL
    final = no_violation(critical, senior)
    assert final.from_queue == ReviewQueue.ESCALATED
    standard = no_violation(FlaggedItemFactory(), reviewer)
    assert standard.from_queue == ReviewQueue.STANDARD
    for decision in (escalation, final, standard):
        decision.refresh_from_db()
    assert [escalation.from_queue, final.from_queue, standard.from_queue] == [
        "critical",
        "escalated",
        "standard",
    ]


# --- content seen: the server's own record of "Show content" -------------------------------


def critical_item():
    from tests.factories import SignalFactory

    item = FlaggedItemFactory(queue=ReviewQueue.CRITICAL)
    SignalFactory(item=item, category=category("weapons"))
    return item


def reveal(item: FlaggedItem, who) -> None:
    from moderation.services.audit import audit_record

    audit_record(actor=who, action=AuditAction.CONTENT_REVEAL, item=item)


def test_a_decision_on_critical_content_never_revealed_is_recorded_as_unseen(reviewer, senior):
    item = critical_item()
    reveal(item, senior)  # someone else's reveal is not this reviewer's
    decision = decision_record(
        item=item,
        reviewer=reviewer,
        verdict=Verdict.VIOLATION,
        categories=[category("weapons")],
        note="",
    )
    decision.refresh_from_db()
    assert decision.content_seen is False
    event = AuditEvent.objects.get(action=AuditAction.ITEM_DECIDE, item=item)
    assert event.detail["content_seen"] is False


def test_a_decision_after_show_content_is_recorded_as_seen(reviewer):
    item = critical_item()
    reveal(item, reviewer)
    decision = no_violation(item, reviewer)
    decision.refresh_from_db()
    assert decision.content_seen is True
    assert AuditEvent.objects.get(action=AuditAction.ITEM_DECIDE).detail["content_seen"] is True


def test_content_that_is_not_critical_is_always_seen(reviewer):
    decision = no_violation(FlaggedItemFactory(), reviewer)
    decision.refresh_from_db()
    assert decision.content_seen is True
