"""Consequences follow the final decision (CONTRACT §5 v2, §6 v2): after an undo or an
overturn, an automatic warning or restriction that no longer stands steps down to what the
thresholds now say, with a `reinstate` delivered whose reason names the decision; a removal
proposal whose basis is gone is withdrawn; a removal, or a status set by a person, stays."""

from __future__ import annotations

import pytest

from moderation.models import (
    ActionKind,
    ActionState,
    AuditAction,
    AuditEvent,
    Decision,
    Delivery,
    FlaggedItem,
    SubjectStatus,
    Verdict,
)
from moderation.services.enforcement import (
    EnforcementRefused,
    action_by_hand,
    removal_approve,
    removal_reject,
)
from moderation.services.review import decision_overturn
from moderation.services.undo import decision_undo
from tests.factories import categories, decide, status_of

pytestmark = pytest.mark.django_db

V, N = Verdict.VIOLATION, Verdict.NO_VIOLATION


def overturn(decision, who, verdict=N, *slugs: str, note: str = "context"):
    return decision_overturn(
        item=FlaggedItem.objects.get(pk=decision.item_id),
        user=who,
        verdict=verdict,
        categories=categories(*slugs),
        note=note,
    )


def kinds(subject) -> list[tuple[str, str, str]]:
    return [(a.kind, a.state, a.decided_by) for a in subject.actions.order_by("created_at")]


def test_an_overturn_steps_a_restriction_down_to_a_warning_and_says_why(
    user, reviewer, senior, endpoint
):
    first = decide(user, V, reviewer=reviewer)
    decide(user, V, reviewer=reviewer)
    decide(user, V, reviewer=reviewer)
    decide(user, N, reviewer=reviewer)
    assert status_of(user) == SubjectStatus.RESTRICTED  # 3 of 4

    overturn(first, senior, N)

    assert status_of(user) == SubjectStatus.WARNED
    assert (user.violations, user.reviewed) == (2, 4)
    reinstate = user.actions.get(kind=ActionKind.REINSTATE)
    assert (reinstate.state, reinstate.decided_by, reinstate.status_after) == (
        "taken",
        "correction",
        "warned",
    )
    assert reinstate.actor is None
    assert reinstate.reason == (
        f"Decision {first.pk} on item {first.item_id} was overturned by sam; the restriction "
        "no longer stands: 2 violations of 4 reviewed in 30 days (rate 0.50); status now warned"
    )
    assert (reinstate.violations, reinstate.reviewed, reinstate.violation_rate) == (2, 4, 0.5)
    event = AuditEvent.objects.get(
        action=AuditAction.ENFORCEMENT_TAKEN, detail__action=str(reinstate.pk)
    )
    assert event.detail["status_after"] == "warned" and event.detail["decided_by"] == "correction"
    data = Delivery.objects.get(action=reinstate).payload["data"]
    assert data["action"] == "reinstate" and data["decided_by"] == "correction"
    assert data["reason"] == reinstate.reason
    assert (data["violations"], data["reviewed"]) == (2, 4)


def test_an_undo_steps_a_warning_down_to_active(user, reviewer, endpoint):
    decision = decide(user, V, reviewer=reviewer)
    assert status_of(user) == SubjectStatus.WARNED
    decision_undo(decision=decision, user=reviewer)
    assert status_of(user) == SubjectStatus.ACTIVE
    assert kinds(user) == [("warn", "taken", "threshold"), ("reinstate", "taken", "correction")]
    assert Delivery.objects.filter(action__kind=ActionKind.REINSTATE).count() == 1


def test_a_correction_that_leaves_the_status_standing_takes_no_action(user, reviewer, senior):
    first = decide(user, V, reviewer=reviewer)
    decide(user, V, reviewer=reviewer)
    overturn(first, senior, N)  # 1 of 2: still warned
    assert status_of(user) == SubjectStatus.WARNED
    assert kinds(user) == [("warn", "taken", "threshold")]


def test_an_overturn_to_violation_escalates_as_a_decision_does(user, reviewer, senior):
    decide(user, V, reviewer=reviewer)
    decide(user, V, reviewer=reviewer)
    clean = decide(user, N, reviewer=reviewer)
    assert status_of(user) == SubjectStatus.WARNED
    overturn(clean, senior, V, "fraud")
    assert status_of(user) == SubjectStatus.RESTRICTED
    restrict = user.actions.get(kind=ActionKind.RESTRICT)
    assert restrict.decided_by == "threshold" and (restrict.violations, restrict.reviewed) == (3, 3)
    assert restrict.basis.count() == 3


def test_a_status_set_by_a_person_is_not_stepped_down(user, reviewer, senior):
    action_by_hand(subject=user, kind=ActionKind.RESTRICT, user=senior, reason="known abuser")
    decision = decide(user, V, reviewer=reviewer)
    decision_undo(decision=decision, user=reviewer)
    assert status_of(user) == SubjectStatus.RESTRICTED
    assert not user.actions.filter(kind=ActionKind.REINSTATE).exists()


def test_a_status_set_by_a_person_after_a_threshold_is_not_stepped_down(user, reviewer, senior):
    decision = decide(user, V, reviewer=reviewer)  # warned by the thresholds
    action_by_hand(subject=user, kind=ActionKind.RESTRICT, user=senior, reason="threats by mail")
    overturn(decision, senior, N)
    assert status_of(user) == SubjectStatus.RESTRICTED
    assert not user.actions.filter(kind=ActionKind.REINSTATE).exists()


def test_a_removed_user_is_never_reinstated_by_a_correction(user, reviewer, senior, admin_user):
    decisions = [decide(user, V, reviewer=reviewer) for _ in range(5)]
    removal_approve(action=user.actions.get(state=ActionState.PROPOSED), user=admin_user)
    assert status_of(user) == SubjectStatus.REMOVED
    for decision in decisions:
        overturn(decision, senior, N)
    user.refresh_from_db()
    assert (user.status, user.violations, user.reviewed) == ("removed", 0, 5)
    assert not user.actions.filter(kind=ActionKind.REINSTATE).exists()


def test_a_proposal_whose_basis_is_gone_is_withdrawn(user, reviewer, senior, endpoint):
    decide(user, N, reviewer=reviewer)
    critical = decide(user, V, "weapons", reviewer=reviewer)
    proposal = user.actions.get(state=ActionState.PROPOSED)

    overturn(critical, senior, N)

    proposal.refresh_from_db()
    assert proposal.state == ActionState.WITHDRAWN and proposal.resolved_at is not None
    assert proposal.approved_by is None and proposal.effective_at is None
    assert proposal.review_note.startswith(
        f"Withdrawn: Decision {critical.pk} on item {critical.item_id} was overturned by sam; "
        "the thresholds no longer propose removal"
    )
    event = AuditEvent.objects.get(action=AuditAction.ENFORCEMENT_WITHDRAWN)
    assert event.subject == user and event.detail["action"] == str(proposal.pk)
    assert event.detail["decision"] == critical.pk
    assert not Delivery.objects.filter(action=proposal).exists()
    assert status_of(user) == SubjectStatus.ACTIVE
    with pytest.raises(EnforcementRefused, match="already been decided"):
        removal_approve(action=proposal, user=senior)


def test_a_proposal_that_still_stands_gets_its_basis_refreshed(user, reviewer, senior):
    decisions = [decide(user, V, reviewer=reviewer) for _ in range(6)]
    proposal = user.actions.get(state=ActionState.PROPOSED)
    assert set(proposal.basis.all()) == set(decisions[:5])
    overturn(decisions[0], senior, N)  # 5 of 6: rate 0.83, removal still called for
    proposal.refresh_from_db()
    assert proposal.state == ActionState.PROPOSED
    assert set(proposal.basis.all()) == set(decisions[1:])
    assert (proposal.violations, proposal.reviewed) == (5, 6)
    assert "5 violations of 6 reviewed" in proposal.reason


def test_a_correction_is_no_fresh_start(user, reviewer, senior):
    first = decide(user, V, reviewer=reviewer)
    decide(user, V, reviewer=reviewer)
    decide(user, V, reviewer=reviewer)
    overturn(first, senior, N)
    assert status_of(user) == SubjectStatus.WARNED  # 2 of 3
    # The two violations that stand still count: one more restricts again.
    decide(user, V, reviewer=reviewer)
    assert status_of(user) == SubjectStatus.RESTRICTED  # 3 of 4


def test_a_reinstatement_by_a_person_stays_a_fresh_start_for_corrections(user, reviewer, senior):
    for _ in range(3):
        decide(user, V, reviewer=reviewer)
    action_by_hand(subject=user, kind=ActionKind.REINSTATE, user=senior, reason="appeal by mail")
    since = decide(user, V, reviewer=reviewer)  # warned on the one violation since
    clean = decide(user, N, reviewer=reviewer)
    assert status_of(user) == SubjectStatus.WARNED
    overturn(clean, senior, V, "hate")  # 2 since the reinstatement: still a warning
    assert status_of(user) == SubjectStatus.WARNED
    overturn(since, senior, N)
    overturn(Decision.objects.final().get(item_id=clean.item_id), senior, N)
    assert status_of(user) == SubjectStatus.ACTIVE


def test_a_rejected_removal_proposed_again_on_a_new_violation_goes_with_it(user, reviewer, senior):
    for _ in range(5):
        decide(user, V, reviewer=reviewer)
    removal_reject(action=user.actions.get(state=ActionState.PROPOSED), user=senior, note="no")
    again = decide(user, V, reviewer=reviewer)
    proposal = user.actions.get(state=ActionState.PROPOSED)
    decision_undo(decision=again, user=reviewer)
    proposal.refresh_from_db()
    assert proposal.state == ActionState.WITHDRAWN
    assert status_of(user) == SubjectStatus.RESTRICTED  # 5 of 5 still restricts
