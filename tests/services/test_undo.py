"""Undo (CONTRACT §8 v2): the deciding reviewer takes a decision back within minutes, as long
as nobody else has acted on the item; the item comes back to them undecided, the decision
stays on record as undone, and the user's figures and actions follow."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.roles import Role
from moderation.models import (
    ActionKind,
    AuditAction,
    AuditEvent,
    Decision,
    FlaggedItem,
    ItemState,
    ReviewQueue,
    SubjectStatus,
    Verdict,
    VoidReason,
)
from moderation.services import claims
from moderation.services.undo import (
    UndoRefused,
    decision_undo,
    decision_undoable,
    undoable_decision,
    undoable_fresh,
)
from tests.factories import FlaggedItemFactory, UserFactory, decide

pytestmark = pytest.mark.django_db

V, N, E = Verdict.VIOLATION, Verdict.NO_VIOLATION, Verdict.ESCALATE


def held_and_decided(user, reviewer, verdict=V, *slugs, queue=ReviewQueue.STANDARD):
    """An item of the user claimed by the reviewer and decided by them."""
    item = FlaggedItemFactory(subject=user, organization=user.organization, queue=queue)
    assert claims.claim_next(user=reviewer) == item
    return item, decide(item, verdict, *slugs, reviewer=reviewer)


def test_it_gives_the_item_back_undecided_to_its_reviewer(user, reviewer):
    item, decision = held_and_decided(user, reviewer, V, "hate")
    before = timezone.now()

    returned = decision_undo(decision=decision, user=reviewer)

    assert returned == item
    item.refresh_from_db()
    assert item.state == ItemState.CLAIMED and item.claimed_by == reviewer
    assert item.queue == ReviewQueue.STANDARD and item.decided_at is None
    assert item.claimed_at >= before
    assert item.lease_expires_at >= before + timedelta(minutes=9)
    decision.refresh_from_db()
    assert decision.voided_at is not None and decision.voided_by == reviewer
    assert decision.void_reason == VoidReason.UNDONE and decision.replaced_by is None
    # The audit log keeps the decision and records the undo beside it.
    assert AuditEvent.objects.filter(action=AuditAction.ITEM_DECIDE, item=item).exists()
    undo = AuditEvent.objects.get(action=AuditAction.ITEM_UNDO)
    assert undo.actor == reviewer and undo.item == item
    assert undo.detail == {"decision": decision.pk, "verdict": "violation", "categories": ["hate"]}


def test_the_figures_and_the_warning_follow_the_undo(user, reviewer):
    _, decision = held_and_decided(user, reviewer, V)
    user.refresh_from_db()
    assert (user.status, user.violations, user.reviewed) == ("warned", 1, 1)
    decision_undo(decision=decision, user=reviewer)
    user.refresh_from_db()
    assert (user.status, user.violations, user.reviewed) == ("active", 0, 0)
    reinstate = user.actions.get(kind=ActionKind.REINSTATE)
    assert (reinstate.decided_by, reinstate.state, reinstate.status_after) == (
        "correction",
        "taken",
        "active",
    )
    assert reinstate.reason.startswith(
        f"Decision {decision.pk} on item {decision.item_id} was undone by rita; "
        "the warning no longer stands"
    )


def test_the_item_is_decided_afresh_after_an_undo(user, reviewer):
    item, first = held_and_decided(user, reviewer, V)
    decision_undo(decision=first, user=reviewer)
    second = decide(item, N, reviewer=reviewer)
    item.refresh_from_db()
    assert item.state == ItemState.DECIDED and item.decided_at == second.decided_at
    assert list(Decision.objects.final().filter(item=item)) == [second]
    assert Decision.objects.filter(item=item).count() == 2
    user.refresh_from_db()
    assert (user.violations, user.reviewed) == (0, 1)


def test_only_the_deciding_reviewer_undoes(user, reviewer, senior):
    _, decision = held_and_decided(user, reviewer, N)
    bob = UserFactory(username="bob", role=Role.REVIEWER)
    for other in (bob, senior):
        assert decision_undoable(decision=decision, user=other) is False
        with pytest.raises(UndoRefused, match="Only the reviewer who made a decision"):
            decision_undo(decision=decision, user=other)
    decision.refresh_from_db()
    assert decision.voided_at is None
    assert not AuditEvent.objects.filter(action=AuditAction.ITEM_UNDO).exists()


def test_undo_lasts_as_long_as_the_setting_says(user, reviewer, settings):
    _, decision = held_and_decided(user, reviewer, N)
    assert settings.MODQUEUE_UNDO_SECONDS == 300
    at = decision.decided_at
    assert decision_undoable(decision=decision, user=reviewer, now=at + timedelta(seconds=300))
    assert not decision_undoable(decision=decision, user=reviewer, now=at + timedelta(seconds=301))
    settings.MODQUEUE_UNDO_SECONDS = 60
    assert not decision_undoable(decision=decision, user=reviewer, now=at + timedelta(seconds=61))
    with pytest.raises(UndoRefused, match="1 minute only"):
        decision_undo(decision=decision, user=reviewer, now=at + timedelta(seconds=61))
    item = FlaggedItem.objects.get(pk=decision.item_id)
    assert item.state == ItemState.DECIDED


def test_an_undone_decision_is_not_undone_twice(user, reviewer):
    _, decision = held_and_decided(user, reviewer, N)
    decision_undo(decision=decision, user=reviewer)
    with pytest.raises(UndoRefused, match="already been undone"):
        decision_undo(decision=decision, user=reviewer)
    assert AuditEvent.objects.filter(action=AuditAction.ITEM_UNDO).count() == 1


def test_an_overturned_decision_cannot_be_undone(user, reviewer, senior):
    from moderation.services.review import decision_overturn

    item, decision = held_and_decided(user, reviewer, N)
    decision_overturn(
        item=item, user=senior, verdict=V, categories=[hate()], note="slur in the reply"
    )
    assert not decision_undoable(decision=decision, user=reviewer)
    with pytest.raises(UndoRefused, match="overturned"):
        decision_undo(decision=decision, user=reviewer)


def hate():
    from moderation.models import PolicyCategory

    return PolicyCategory.objects.get(slug="hate")


def test_undoing_an_escalation_brings_the_item_back_from_the_seniors(user, reviewer):
    item, escalation = held_and_decided(user, reviewer, E, queue=ReviewQueue.CRITICAL)
    item.refresh_from_db()
    assert item.queue == ReviewQueue.ESCALATED
    decision_undo(decision=escalation, user=reviewer)
    item.refresh_from_db()
    assert item.queue == ReviewQueue.CRITICAL
    assert item.state == ItemState.CLAIMED and item.claimed_by == reviewer
    user.refresh_from_db()
    assert (user.status, user.reviewed) == ("active", 0) and not user.actions.exists()


def test_an_escalation_a_senior_took_up_stands(user, reviewer, senior):
    item, escalation = held_and_decided(user, reviewer, E)
    assert claims.claim_next(user=senior) == item
    with pytest.raises(UndoRefused, match="senior has taken up"):
        decision_undo(decision=escalation, user=reviewer)
    item.refresh_from_db()
    assert item.claimed_by == senior
    decide(item, N, reviewer=senior)
    with pytest.raises(UndoRefused, match="Someone else has acted"):
        decision_undo(decision=escalation, user=reviewer)


def test_a_senior_undoes_a_decision_on_an_escalated_item_back_to_the_seniors(
    user, reviewer, senior
):
    item, escalation = held_and_decided(user, reviewer, E)
    assert claims.claim_next(user=senior) == item
    decision = decide(item, V, "hate", reviewer=senior)
    assert decision.from_queue == ReviewQueue.ESCALATED
    decision_undo(decision=decision, user=senior)
    item.refresh_from_db()
    assert item.queue == ReviewQueue.ESCALATED
    assert item.state == ItemState.CLAIMED and item.claimed_by == senior
    # The reviewer's escalation is not theirs to take back now: a senior acted on it.
    assert not decision_undoable(decision=escalation, user=reviewer)


def test_undo_gives_back_the_item_the_reviewer_took_up_since(user, reviewer):
    item, decision = held_and_decided(user, reviewer, N)
    following = FlaggedItemFactory()
    assert claims.claim_next(user=reviewer) == following
    decision_undo(decision=decision, user=reviewer)
    following.refresh_from_db()
    assert following.state == ItemState.PENDING and following.claimed_by is None
    release = AuditEvent.objects.get(action=AuditAction.ITEM_RELEASE, item=following)
    assert release.detail == {"reason": "undo"} and release.actor == reviewer
    assert not AuditEvent.objects.filter(action=AuditAction.ITEM_SKIP).exists()
    assert claims.claim_held(user=reviewer) == item


def test_the_page_offers_to_undo_the_latest_decision_only(user, reviewer):
    assert undoable_decision(user=reviewer) is None
    _, first = held_and_decided(user, reviewer, N)
    assert undoable_decision(user=reviewer) == first
    item, second = held_and_decided(user, reviewer, N)
    assert undoable_decision(user=reviewer) == second
    decision_undo(decision=second, user=reviewer)
    # Undo takes back the last decision, not the one before.
    assert undoable_decision(user=reviewer) is None
    third = decide(item, V, reviewer=reviewer)
    assert undoable_decision(user=reviewer) == third
    later = third.decided_at + timedelta(seconds=301)
    assert undoable_decision(user=reviewer, now=later) is None


def test_nothing_is_offered_to_undo_once_someone_else_acted(user, reviewer, senior):
    from moderation.services.review import decision_overturn

    item, decision = held_and_decided(user, reviewer, N)
    decision_overturn(item=item, user=senior, verdict=V, categories=[hate()], note="slur")
    assert undoable_decision(user=reviewer) is None
    user.refresh_from_db()
    assert user.status == SubjectStatus.WARNED


# --- the offer after a decision this request made (undoable_fresh) -----------------------


def _offers_alike(decision, user):
    """The fresh path's offer is the one a read of the database gives (the checker)."""
    fresh = undoable_fresh(decision=decision, user=user)
    assert fresh == undoable_decision(user=user)
    return fresh


def test_a_fresh_decision_is_offered_as_a_read_would(user, reviewer):
    for verdict in (V, N, E):
        _, decision = held_and_decided(user, reviewer, verdict)
        assert _offers_alike(decision, reviewer) == decision


def test_a_fresh_decision_sampled_for_a_second_review_is_offered_as_a_read_would(user, reviewer):
    from moderation.models import QualitySettings

    QualitySettings.objects.update_or_create(pk=1, defaults={"second_review_percent": 100})
    _, decision = held_and_decided(user, reviewer, V)
    assert decision.second_review.state == "pending"
    assert _offers_alike(decision, reviewer) == decision
    # The second reviewer's answer returns the first decision, not theirs: the long way.
    second = UserFactory(role=Role.REVIEWER)
    item = claims.claim_next(user=second)
    assert item.pk == decision.item_id
    returned = decide(item, V, reviewer=second)
    assert returned == decision
    assert _offers_alike(returned, second) is None


def test_a_seniors_fresh_decision_on_an_escalated_item_is_offered_as_a_read_would(
    user, reviewer, senior
):
    item, _ = held_and_decided(user, reviewer, E)
    assert claims.claim_next(user=senior, queue=ReviewQueue.ESCALATED) == item
    decision = decide(item, V, reviewer=senior)
    assert _offers_alike(decision, senior) == decision


def test_no_fresh_decision_is_offered_without_an_undo_window(user, reviewer, settings):
    settings.MODQUEUE_UNDO_SECONDS = 0
    _, decision = held_and_decided(user, reviewer, N)
    assert _offers_alike(decision, reviewer) is None
