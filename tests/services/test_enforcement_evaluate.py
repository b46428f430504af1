"""Automatic actions (CONTRACT §6): each decision moves a user up the thresholds (warn, restrict,
then a removal proposal), never down, and a reinstatement or a rejected removal is a fresh start."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from moderation.models import (
    ActionKind,
    ActionState,
    AuditAction,
    AuditEvent,
    EnforcementAction,
    SubjectStatus,
    Verdict,
)
from moderation.services import claims
from moderation.services.enforcement import action_by_hand, removal_reject
from moderation.services.thresholds import Rules, thresholds_save
from tests.factories import (
    FlaggedItemFactory,
    actions_of,
    decide,
    proposal_of,
    reach_proposal,
    status_of,
)

pytestmark = pytest.mark.django_db

V, N = Verdict.VIOLATION, Verdict.NO_VIOLATION


def test_it_warns_on_the_first_violation(user, reviewer):
    decide(user, V, "hate", "violence", reviewer=reviewer)
    assert status_of(user) == SubjectStatus.WARNED
    warn = user.actions.get()
    assert (warn.kind, warn.state, warn.decided_by) == ("warn", "taken", "threshold")
    assert warn.actor is None and warn.approved_by is None
    assert warn.categories == ["hate", "violence"]
    assert (warn.violations, warn.reviewed, warn.violation_rate) == (1, 1, 1.0)
    assert "1 violation of 1 reviewed in 30 days" in warn.reason
    assert "warn threshold of 1" in warn.reason
    assert warn.effective_at is not None and warn.resolved_at is not None


def test_it_restricts_at_the_third_violation_once_the_rate_is_one_half(
    user, reviewer, reviewer_decides
):
    reviewer_decides(user, "NVNVN")
    assert status_of(user) == SubjectStatus.WARNED  # 2 of 5
    decide(user, V, reviewer=reviewer)  # 3 of 6: rate 0.5, inclusive
    assert status_of(user) == SubjectStatus.RESTRICTED
    restrict = user.actions.get(kind=ActionKind.RESTRICT)
    assert restrict.decided_by == "threshold" and restrict.state == ActionState.TAKEN
    assert restrict.actor is None
    assert (restrict.violations, restrict.reviewed, restrict.violation_rate) == (3, 6, 0.5)
    assert "restrict threshold of 3 at rate ≥ 0.50" in restrict.reason
    assert restrict.categories == ["violence"]


def test_three_violations_below_a_rate_of_one_half_only_warn(user, reviewer, reviewer_decides):
    reviewer_decides(user, "VNVNNNV")  # 3 of 7: rate 0.43
    assert status_of(user) == SubjectStatus.WARNED
    decide(user, V, reviewer=reviewer)  # 4 of 8: rate 0.5
    assert status_of(user) == SubjectStatus.RESTRICTED
    assert user.actions.get(kind=ActionKind.RESTRICT).violations == 4


def test_a_user_moves_from_active_to_warned_to_restricted_to_removal_proposed(user, reviewer):
    seen = []
    for _ in range(5):
        decide(user, V, reviewer=reviewer)
        seen.append(status_of(user))
    assert seen == ["warned", "warned", "restricted", "restricted", "restricted"]
    assert actions_of(user) == [
        ("warn", "taken", "threshold"),
        ("restrict", "taken", "threshold"),
        ("remove", "proposed", "threshold"),
    ]
    figures = [(a.kind, a.violations, a.reviewed) for a in user.actions.order_by("created_at")]
    assert figures == [("warn", 1, 1), ("restrict", 3, 3), ("remove", 5, 5)]
    proposal = proposal_of(user)
    assert proposal.effective_at is None and proposal.resolved_at is None
    assert "remove threshold of 5 at rate ≥ 0.80" in proposal.reason
    assert AuditEvent.objects.filter(
        action=AuditAction.ENFORCEMENT_PROPOSED, subject=user, detail__action=str(proposal.pk)
    ).exists()


def test_it_proposes_removal_only_once_the_rate_reaches_four_fifths(
    user, reviewer, reviewer_decides
):
    reviewer_decides(user, "VVVVNN")  # 4 of 6
    decide(user, V, reviewer=reviewer)  # 5 of 7: rate 0.71
    assert not user.actions.filter(kind=ActionKind.REMOVE).exists()
    reviewer_decides(user, "VVV")  # 8 of 10: rate 0.8, inclusive
    assert proposal_of(user).violations == 8


def test_a_decision_through_a_claim_counts_like_any_other(user, reviewer):
    FlaggedItemFactory(subject=user)
    item = claims.claim_next(user=reviewer)
    decide(item, V, "fraud", reviewer=reviewer)
    assert status_of(user) == SubjectStatus.WARNED
    assert user.actions.get().categories == ["fraud"]


def test_no_violation_decisions_take_no_action(user, reviewer_decides):
    reviewer_decides(user, "NNNN")
    assert status_of(user) == SubjectStatus.ACTIVE
    assert not user.actions.exists()


def test_an_escalation_takes_no_action(user, reviewer):
    decide(user, Verdict.ESCALATE, reviewer=reviewer)
    assert status_of(user) == SubjectStatus.ACTIVE and not user.actions.exists()


def test_automatic_actions_only_escalate(user, reviewer_decides):
    reviewer_decides(user, "VVV")
    assert status_of(user) == SubjectStatus.RESTRICTED
    reviewer_decides(user, "NNNNNNN")  # 3 of 10: the figures call only for a warning
    user.refresh_from_db()
    assert (user.violations, user.reviewed) == (3, 10)
    assert user.status == SubjectStatus.RESTRICTED
    assert [a.kind for a in user.actions.all()] == ["restrict", "warn"]


def test_a_lower_status_is_never_taken_automatically(user, reviewer, senior):
    action_by_hand(
        subject=user, kind=ActionKind.RESTRICT, user=senior, reason="known abuser elsewhere"
    )
    decide(user, V, reviewer=reviewer)  # the figures call for a warning
    assert status_of(user) == SubjectStatus.RESTRICTED
    assert not user.actions.filter(kind=ActionKind.WARN).exists()


def test_one_critical_violation_proposes_removal_at_once(user, reviewer, reviewer_decides):
    reviewer_decides(user, "NNNN")
    decide(user, V, "weapons", reviewer=reviewer)  # 1 of 5
    assert status_of(user) == SubjectStatus.WARNED
    assert actions_of(user) == [("warn", "taken", "threshold"), ("remove", "proposed", "threshold")]
    proposal = proposal_of(user)
    assert proposal.categories == ["weapons"]
    assert "critical category" in proposal.reason
    assert (proposal.violations, proposal.reviewed) == (1, 5)


def test_a_critical_violation_proposes_nothing_when_the_rule_is_off(user, reviewer, admin_user):
    thresholds_save(
        organization=user.organization, rules=Rules(remove_on_critical=False), user=admin_user
    )
    decide(user, V, "child-safety", reviewer=reviewer)
    assert actions_of(user) == [("warn", "taken", "threshold")]


def test_only_one_proposal_waits_per_user(user, reviewer, reviewer_decides):
    decide(user, V, "weapons", reviewer=reviewer)
    reviewer_decides(user, "VVVVV")
    decide(user, V, "mass-surveillance", reviewer=reviewer)
    assert user.actions.filter(state=ActionState.PROPOSED).count() == 1


def test_the_database_refuses_a_second_waiting_proposal(user, reviewer):
    proposal = reach_proposal(user, reviewer)
    with pytest.raises(IntegrityError), transaction.atomic():
        EnforcementAction.objects.create(
            subject=user,
            kind=ActionKind.REMOVE,
            state=ActionState.PROPOSED,
            decided_by="threshold",
            reason="again",
            violations=5,
            reviewed=5,
            violation_rate=1.0,
        )
    assert list(user.actions.filter(state=ActionState.PROPOSED)) == [proposal]


# --- fresh starts ------------------------------------------------------------------------


def test_a_reinstated_user_is_not_restricted_again_on_old_violations(
    user, reviewer_decides, senior
):
    reviewer_decides(user, "VVV")
    assert status_of(user) == SubjectStatus.RESTRICTED
    action_by_hand(subject=user, kind=ActionKind.REINSTATE, user=senior, reason="appeal by mail")
    reviewer_decides(user, "N")
    assert status_of(user) == SubjectStatus.ACTIVE
    # New violations count again, from the reinstatement on.
    reviewer_decides(user, "V")
    assert status_of(user) == SubjectStatus.WARNED
    reviewer_decides(user, "VV")
    assert status_of(user) == SubjectStatus.RESTRICTED


def test_a_rejected_removal_is_proposed_again_only_after_a_new_violation(
    user, reviewer, reviewer_decides, senior
):
    proposal = reach_proposal(user, reviewer)
    removal_reject(action=proposal, user=senior, note="context: a novelist")
    reviewer_decides(user, "N")
    assert not user.actions.filter(state=ActionState.PROPOSED).exists()
    reviewer_decides(user, "V")
    assert user.actions.filter(state=ActionState.PROPOSED).count() == 1
