"""Overturn (CONTRACT §8 v2): a senior or admin replaces a decided item's final decision with
their own, with a note; the earlier stays on record as overturned, and only the new one
counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from moderation.models import (
    AuditAction,
    AuditEvent,
    Decision,
    FlaggedItem,
    ItemState,
    ReviewQueue,
    Verdict,
    VoidReason,
)
from moderation.services.audit import audit_record
from moderation.services.policy import exception_grant
from moderation.services.review import (
    DecisionInvalid,
    OverturnRefused,
    decision_overturn,
)
from tests.factories import (
    FlaggedItemFactory,
    SignalFactory,
    categories,
    decide,
)

pytestmark = pytest.mark.django_db

V, N, E = Verdict.VIOLATION, Verdict.NO_VIOLATION, Verdict.ESCALATE


def overturn(decision: Decision, who, verdict=N, *slugs: str, note: str = "context"):
    return decision_overturn(
        item=FlaggedItem.objects.get(pk=decision.item_id),
        user=who,
        verdict=verdict,
        categories=categories(*slugs),
        note=note,
    )


@pytest.mark.parametrize("who", ["senior", "admin_user"])
def test_a_senior_or_admin_overturns_a_decision(user, reviewer, who, request):
    overturner = request.getfixturevalue(who)
    first = decide(user, V, "hate", "violence", reviewer=reviewer)

    new = overturn(first, overturner, N, note="  quoting a film, not a threat ")

    first.refresh_from_db()
    assert first.void_reason == VoidReason.OVERTURNED and first.voided_by == overturner
    assert first.voided_at is not None and first.replaced_by == new
    assert (new.reviewer, new.verdict, new.note) == (
        overturner,
        "no_violation",
        "quoting a film, not a threat",
    )
    assert list(Decision.objects.final().filter(item_id=first.item_id)) == [new]
    item = FlaggedItem.objects.get(pk=first.item_id)
    assert item.state == ItemState.DECIDED and item.decided_at == new.decided_at
    event = AuditEvent.objects.get(action=AuditAction.ITEM_OVERTURN)
    assert event.actor == overturner and event.item == item
    assert event.detail["from"] == {"verdict": "violation", "categories": ["hate", "violence"]}
    assert event.detail["to"] == {"verdict": "no_violation", "categories": []}
    assert event.detail["note"] == "quoting a film, not a threat"
    assert (event.detail["decision"], event.detail["replaces"]) == (new.pk, first.pk)
    # The original decision's audit row stays.
    assert AuditEvent.objects.filter(action=AuditAction.ITEM_DECIDE, item=item).count() == 1


def test_only_the_final_decision_counts(user, reviewer, senior):
    first = decide(user, N, reviewer=reviewer)
    decide(user, N, reviewer=reviewer)
    overturn(first, senior, V, "fraud")
    user.refresh_from_db()
    assert (user.violations, user.reviewed, user.status) == (1, 2, "warned")
    warn = user.actions.get()
    assert warn.categories == ["fraud"] and warn.decided_by == "threshold"


def test_a_reviewer_cannot_overturn(user, reviewer):
    first = decide(user, V, reviewer=reviewer)
    with pytest.raises(OverturnRefused, match="Only seniors and admins"):
        overturn(first, reviewer, N)
    first.refresh_from_db()
    assert first.voided_at is None
    assert not AuditEvent.objects.filter(action=AuditAction.ITEM_OVERTURN).exists()


@pytest.mark.parametrize("note", ["", "   "])
def test_an_overturn_needs_a_note(user, reviewer, senior, note):
    first = decide(user, V, reviewer=reviewer)
    with pytest.raises(DecisionInvalid) as invalid:
        overturn(first, senior, N, note=note)
    assert invalid.value.field == "note"
    assert Decision.objects.count() == 1


def test_an_overturn_follows_the_category_rules(user, reviewer, senior):
    first = decide(user, N, reviewer=reviewer)
    with pytest.raises(DecisionInvalid) as invalid:
        overturn(first, senior, V)
    assert invalid.value.field == "categories"
    with pytest.raises(DecisionInvalid) as invalid:
        overturn(decide(user, V, reviewer=reviewer), senior, N, "hate")
    assert invalid.value.field == "categories"
    with pytest.raises(DecisionInvalid) as invalid:
        overturn(first, senior, E)
    assert invalid.value.field == "verdict"
    assert not Decision.objects.exclude(voided_at=None).exists()


def test_an_overturn_that_changes_nothing_is_refused(user, reviewer, senior):
    first = decide(user, V, "hate", "fraud", reviewer=reviewer)
    with pytest.raises(DecisionInvalid, match="Nothing to change"):
        overturn(first, senior, V, "fraud", "hate")
    # Other categories are a change.
    new = overturn(first, senior, V, "hate")
    assert [c.slug for c in new.categories.all()] == ["hate"]


def test_only_a_decided_item_is_overturned(user, reviewer, senior):
    pending = FlaggedItemFactory(subject=user, organization=user.organization)
    escalated = FlaggedItemFactory(subject=user, organization=user.organization)
    decide(escalated, E, reviewer=reviewer)
    for item in (pending, escalated):
        with pytest.raises(OverturnRefused, match="decided item"):
            decision_overturn(item=item, user=senior, verdict=N, categories=[], note="x")
    assert not Decision.objects.filter(reviewer=senior).exists()


def test_an_overturned_decision_can_be_overturned_again(user, reviewer, senior, admin_user):
    first = decide(user, V, reviewer=reviewer)
    second = overturn(first, senior, N)
    third = overturn(second, admin_user, V, "hate")
    second.refresh_from_db()
    assert second.replaced_by == third and second.void_reason == VoidReason.OVERTURNED
    assert list(Decision.objects.final().filter(item_id=first.item_id)) == [third]
    user.refresh_from_db()
    assert (user.violations, user.reviewed) == (1, 1)


def test_a_violation_overturned_into_excepted_categories_is_allowed(
    user, reviewer, senior, admin_user
):
    exception = exception_grant(
        organization=user.organization,
        category=categories("foreign-intelligence")[0],
        scope="analysis of foreign state actors",
        reference="MSA-2026-07 §4",
        valid_until=timezone.now() + timedelta(days=365),
        approved_by=admin_user,
    )
    first = decide(user, V, "hate", reviewer=reviewer)
    new = overturn(first, senior, V, "foreign-intelligence")
    assert new.allowed_by == exception
    user.refresh_from_db()
    assert (user.violations, user.reviewed) == (0, 1)
    event = AuditEvent.objects.get(action=AuditAction.ITEM_OVERTURN)
    assert event.detail["allowed_by_exception"] == exception.pk


def test_an_overturn_records_whether_the_senior_saw_critical_content(user, reviewer, senior):
    item = FlaggedItemFactory(
        subject=user, organization=user.organization, queue=ReviewQueue.CRITICAL
    )
    SignalFactory(item=item, category=categories("weapons")[0])
    first = decide(item, N, reviewer=reviewer)
    unseen = overturn(first, senior, V, "weapons")
    assert unseen.content_seen is False
    audit_record(actor=senior, action=AuditAction.CONTENT_REVEAL, item=item)
    seen = overturn(unseen, senior, N)
    assert seen.content_seen is True
