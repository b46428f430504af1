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
    PolicyCategory,
    ReviewQueue,
    Verdict,
)
from moderation.services import claims
from moderation.services.review import ClaimConflict, DecisionInvalid, decision_record
from tests.factories import FlaggedItemFactory

pytestmark = pytest.mark.django_db


def category(slug: str) -> PolicyCategory:
    return PolicyCategory.objects.get(slug=slug)


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
    with pytest.raises(ClaimConflict, match="another reviewer now holds it"):
        decision_record(
            item=claimed, reviewer=reviewer, verdict=Verdict.NO_VIOLATION, categories=[], note=""
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
