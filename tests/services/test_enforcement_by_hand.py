"""Actions by hand (action_by_hand): seniors and admins act with a reason, only when it changes
the user's status, and settle a waiting removal proposal as they do."""

from __future__ import annotations

import pytest

from moderation.models import (
    ActionKind,
    ActionState,
    AuditAction,
    AuditEvent,
    SubjectStatus,
    Verdict,
)
from moderation.services.enforcement import EnforcementRefused, action_by_hand, removal_approve
from tests.factories import SubjectFactory, decide, reach_proposal, status_of

pytestmark = pytest.mark.django_db

V, N = Verdict.VIOLATION, Verdict.NO_VIOLATION


def test_a_senior_acts_by_hand_with_a_reason(user, senior):
    action = action_by_hand(
        subject=user, kind=ActionKind.WARN, user=senior, reason="  spam across accounts "
    )
    assert status_of(user) == SubjectStatus.WARNED
    assert (action.kind, action.state, action.decided_by) == ("warn", "taken", "reviewer")
    assert action.actor == senior and action.reason == "spam across accounts"
    assert AuditEvent.objects.get(action=AuditAction.ENFORCEMENT_TAKEN).actor == senior


@pytest.mark.parametrize("reason", ["", "   \n"])
def test_an_action_by_hand_needs_a_reason(user, senior, reason):
    with pytest.raises(EnforcementRefused, match="reason"):
        action_by_hand(subject=user, kind=ActionKind.RESTRICT, user=senior, reason=reason)
    assert status_of(user) == SubjectStatus.ACTIVE and not user.actions.exists()


def test_an_action_by_hand_that_changes_nothing_is_refused(user, reviewer, senior):
    decide(user, V, reviewer=reviewer)
    with pytest.raises(EnforcementRefused, match="already warned"):
        action_by_hand(subject=user, kind=ActionKind.WARN, user=senior, reason="again")
    with pytest.raises(EnforcementRefused, match="already active"):
        action_by_hand(
            subject=SubjectFactory(organization=user.organization),
            kind=ActionKind.REINSTATE,
            user=senior,
            reason="nothing to undo",
        )
    assert user.actions.count() == 1


def test_a_reviewer_may_not_act_by_hand(user, reviewer):
    with pytest.raises(EnforcementRefused):
        action_by_hand(subject=user, kind=ActionKind.WARN, user=reviewer, reason="rude")
    assert not user.actions.exists()


def test_reinstating_settles_a_waiting_removal(user, reviewer, senior):
    proposal = reach_proposal(user, reviewer)
    reinstate = action_by_hand(
        subject=user, kind=ActionKind.REINSTATE, user=senior, reason="account was compromised"
    )
    assert status_of(user) == SubjectStatus.ACTIVE
    proposal.refresh_from_db()
    assert proposal.state == ActionState.REJECTED and proposal.approved_by == senior
    assert proposal.review_note == f"superseded by reinstate {reinstate.pk}"
    with pytest.raises(EnforcementRefused):
        removal_approve(action=proposal, user=senior)


def test_removing_by_hand_settles_a_waiting_removal(user, reviewer, admin_user):
    proposal = reach_proposal(user, reviewer)
    action_by_hand(subject=user, kind=ActionKind.REMOVE, user=admin_user, reason="confirmed")
    proposal.refresh_from_db()
    assert status_of(user) == SubjectStatus.REMOVED and proposal.state == ActionState.REJECTED
    assert user.actions.filter(kind=ActionKind.REMOVE, state=ActionState.TAKEN).count() == 1
