"""Removal proposals (CONTRACT §6): a senior or admin approves or rejects them, once; a reviewer
may do neither, and a removed user gets no new proposal."""

from __future__ import annotations

import pytest

from moderation.models import (
    ActionState,
    AuditAction,
    AuditEvent,
    EnforcementAction,
    SubjectStatus,
    Verdict,
)
from moderation.services.enforcement import EnforcementRefused, removal_approve, removal_reject
from tests.factories import decide, reach_proposal, status_of

pytestmark = pytest.mark.django_db

V, N = Verdict.VIOLATION, Verdict.NO_VIOLATION


@pytest.mark.parametrize("approver", ["senior", "admin_user"])
def test_a_senior_or_admin_approves_a_removal(user, reviewer, approver, request):
    who = request.getfixturevalue(approver)
    proposal = reach_proposal(user, reviewer)
    removal_approve(action=proposal, user=who, note=" confirmed with the platform ")
    proposal.refresh_from_db()
    assert status_of(user) == SubjectStatus.REMOVED
    assert proposal.state == ActionState.TAKEN and proposal.approved_by == who
    assert proposal.review_note == "confirmed with the platform"
    assert proposal.decided_by == "threshold" and proposal.effective_at is not None
    event = AuditEvent.objects.get(
        action=AuditAction.ENFORCEMENT_TAKEN, detail__action=str(proposal.pk)
    )
    assert event.actor == who and event.subject == user


def test_a_reviewer_may_not_approve_or_reject_a_removal(user, reviewer):
    proposal = reach_proposal(user, reviewer)
    with pytest.raises(EnforcementRefused):
        removal_approve(action=proposal, user=reviewer)
    with pytest.raises(EnforcementRefused):
        removal_reject(action=proposal, user=reviewer)
    proposal.refresh_from_db()
    assert proposal.state == ActionState.PROPOSED
    assert status_of(user) == SubjectStatus.RESTRICTED


def test_a_senior_rejects_a_removal(user, reviewer, senior):
    proposal = reach_proposal(user, reviewer)
    removal_reject(action=proposal, user=senior, note="context: red-team account")
    proposal.refresh_from_db()
    assert proposal.state == ActionState.REJECTED and proposal.approved_by == senior
    assert proposal.review_note == "context: red-team account"
    assert proposal.resolved_at is not None and proposal.effective_at is None
    assert status_of(user) == SubjectStatus.RESTRICTED
    event = AuditEvent.objects.get(action=AuditAction.ENFORCEMENT_REJECTED)
    assert event.actor == senior and event.detail["action"] == str(proposal.pk)


@pytest.mark.parametrize(
    ("first", "then"),
    [
        (removal_approve, removal_approve),
        (removal_approve, removal_reject),
        (removal_reject, removal_approve),
        (removal_reject, removal_reject),
    ],
)
def test_a_removal_already_decided_is_refused(user, reviewer, senior, admin_user, first, then):
    proposal = reach_proposal(user, reviewer)
    first(action=proposal, user=senior)
    settled = EnforcementAction.objects.get(pk=proposal.pk)
    with pytest.raises(EnforcementRefused, match="already been decided"):
        then(action=proposal, user=admin_user)
    proposal.refresh_from_db()
    assert (proposal.state, proposal.approved_by) == (settled.state, senior)


def test_a_removed_user_gets_no_new_proposal(user, reviewer, senior):
    removal_approve(action=reach_proposal(user, reviewer), user=senior)
    decide(user, V, "weapons", reviewer=reviewer)
    assert status_of(user) == SubjectStatus.REMOVED
    assert not user.actions.filter(state=ActionState.PROPOSED).exists()
