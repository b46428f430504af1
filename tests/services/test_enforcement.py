"""Enforcement (CONTRACT §5, §6): decisions move a user up the thresholds, seniors decide
removals and reinstatements, and every taken action is audited and sent to the platform."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from moderation.models import (
    ActionKind,
    ActionState,
    AuditAction,
    AuditEvent,
    Delivery,
    DeliveryStatus,
    EnforcementAction,
    PolicyCategory,
    SubjectStatus,
    Verdict,
)
from moderation.services import claims
from moderation.services.enforcement import (
    EnforcementRefused,
    action_by_hand,
    removal_approve,
    removal_reject,
    thresholds_apply,
    thresholds_preview,
)
from moderation.services.policy import exception_grant
from moderation.services.thresholds import Rules, thresholds_save
from tests.factories import (
    FlaggedItemFactory,
    SubjectFactory,
    actions_of,
    decide,
    proposal_of,
    reach_proposal,
    status_of,
)

pytestmark = pytest.mark.django_db

V, N = Verdict.VIOLATION, Verdict.NO_VIOLATION


# --- automatic actions -------------------------------------------------------------------


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


# --- removal: approved or rejected by a senior or admin ----------------------------------


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


# --- actions by hand ---------------------------------------------------------------------


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


# --- every taken action: audited and delivered -------------------------------------------

DATA_KEYS = {
    "action_id": str,
    "action": str,
    "organization": str,
    "user_id_hash": str,
    "reason": str,
    "categories": list,
    "violations": int,
    "reviewed": int,
    "violation_rate": float,
    "decided_by": str,
    "effective_at": str,
}
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def assert_contract_payload(delivery: Delivery, action: EnforcementAction) -> None:
    """The body of CONTRACT §5, exactly: its keys, their types and values."""
    delivery.refresh_from_db()  # as stored, so as it will be sent
    payload = delivery.payload
    assert set(payload) == {"type", "timestamp", "data"}
    assert payload["type"] == "enforcement.action"
    data = payload["data"]
    assert set(data) == set(DATA_KEYS)
    for key, kind in DATA_KEYS.items():
        assert type(data[key]) is kind, (key, data[key])
    assert all(isinstance(c, str) for c in data["categories"])
    assert ISO_Z.match(payload["timestamp"]) and ISO_Z.match(data["effective_at"])
    effective = datetime.fromisoformat(data["effective_at"].replace("Z", "+00:00"))
    assert abs(effective - action.effective_at) < timedelta(seconds=1)
    subject = action.subject
    assert data == {
        "action_id": str(action.pk),
        "action": action.kind,
        "organization": subject.organization.slug,
        "user_id_hash": subject.user_id_hash,
        "reason": action.reason,
        "categories": action.categories,
        "violations": action.violations,
        "reviewed": action.reviewed,
        "violation_rate": pytest.approx(action.violation_rate, abs=1e-4),
        "decided_by": action.decided_by,
        "effective_at": payload["timestamp"],
    }
    assert re.fullmatch(r"msg_[0-9a-f]{32}", delivery.webhook_id)
    assert delivery.webhook_id == f"msg_{action.pk.hex}"


def test_every_taken_action_is_audited_and_delivered(user, reviewer_decides, senior, endpoint):
    reviewer_decides(user, "VNVVVVV")  # warn, restrict, then removal proposed at 6 of 7
    removal_approve(action=proposal_of(user), user=senior)
    action_by_hand(subject=user, kind=ActionKind.REINSTATE, user=senior, reason="appeal by mail")
    taken = list(user.actions.filter(state=ActionState.TAKEN).order_by("created_at"))
    assert [a.kind for a in taken] == ["warn", "restrict", "remove", "reinstate"]
    for action in taken:
        event = AuditEvent.objects.get(
            action=AuditAction.ENFORCEMENT_TAKEN, detail__action=str(action.pk)
        )
        assert event.subject == user
        assert event.detail == {
            "action": str(action.pk),
            "kind": action.kind,
            "decided_by": action.decided_by,
        }
        delivery = Delivery.objects.get(action=action)
        assert delivery.url == endpoint and delivery.organization == user.organization
        assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 0
        assert delivery.next_attempt_at <= timezone.now()
        assert_contract_payload(delivery, action)
    assert Delivery.objects.count() == 4


def test_the_delivered_figures_are_those_at_the_moment_of_the_action(
    user, reviewer_decides, endpoint
):
    reviewer_decides(user, "NVNVNV")  # 2 of 5, then 3 of 6: restrict at 0.5
    restrict = user.actions.get(kind=ActionKind.RESTRICT)
    data = restrict.delivery.payload["data"]
    assert (data["violations"], data["reviewed"], data["violation_rate"]) == (3, 6, 0.5)
    assert data["action"] == "restrict" and data["decided_by"] == "threshold"
    assert data["categories"] == ["violence"]


def test_a_proposal_or_a_rejection_is_not_delivered(user, reviewer, senior, endpoint):
    proposal = reach_proposal(user, reviewer)
    removal_reject(action=proposal, user=senior)
    assert not Delivery.objects.filter(action=proposal).exists()
    assert Delivery.objects.count() == 2  # warn and restrict


def test_an_organization_without_an_endpoint_gets_no_delivery(user, reviewer):
    decide(user, V, reviewer=reviewer)
    assert status_of(user) == SubjectStatus.WARNED
    assert not Delivery.objects.exists()
    assert AuditEvent.objects.filter(action=AuditAction.ENFORCEMENT_TAKEN).count() == 1


# --- new thresholds: preview, then apply ---------------------------------------------------


def test_the_preview_counts_what_applying_then_does(
    acme, globex, reviewer, reviewer_decides, admin_user
):
    one_in_four = SubjectFactory(organization=acme)
    reviewer_decides(one_in_four, "VNNN")  # warned
    two_of_two = SubjectFactory(organization=acme)
    reviewer_decides(two_of_two, "VV")  # warned
    critical = SubjectFactory(organization=acme)
    decide(critical, V, "weapons", reviewer=reviewer)  # warned, removal waiting
    clean = SubjectFactory(organization=acme)
    reviewer_decides(clean, "NNN")
    elsewhere = SubjectFactory(organization=globex)
    reviewer_decides(elsewhere, "VV")

    stricter = Rules(
        restrict_violations=1, restrict_rate=0.25, remove_violations=2, remove_rate=0.9
    )
    preview = thresholds_preview(organization=acme, rules=stricter)
    assert preview == {"warned": 0, "restricted": 3, "proposals": 1, "total": 3}

    before = set(EnforcementAction.objects.values_list("pk", flat=True))
    thresholds_save(organization=acme, rules=stricter, user=admin_user)
    assert thresholds_apply(organization=acme) == preview["total"]
    new = EnforcementAction.objects.exclude(pk__in=before)
    assert new.filter(kind=ActionKind.RESTRICT).count() == preview["restricted"]
    assert new.filter(state=ActionState.PROPOSED).count() == preview["proposals"]
    assert new.filter(kind=ActionKind.WARN).count() == preview["warned"]
    assert {a.subject for a in new} == {one_in_four, two_of_two, critical}
    assert status_of(clean) == SubjectStatus.ACTIVE
    assert status_of(elsewhere) == SubjectStatus.WARNED
    # Applied once, the same rules change nobody again.
    assert thresholds_preview(organization=acme, rules=stricter)["total"] == 0
    assert thresholds_apply(organization=acme) == 0


def test_the_global_preview_leaves_out_organizations_with_their_own(
    acme, globex, reviewer_decides, admin_user
):
    thresholds_save(organization=acme, rules=Rules(), user=admin_user)
    for organization in (acme, globex):
        reviewer_decides(SubjectFactory(organization=organization), "V")
    restrict_on_one = Rules(warn_violations=1, restrict_violations=1, restrict_rate=0.0)
    preview = thresholds_preview(organization=None, rules=restrict_on_one)
    assert preview == {"warned": 0, "restricted": 1, "proposals": 0, "total": 1}
    thresholds_save(organization=None, rules=restrict_on_one, user=admin_user)
    assert thresholds_apply(organization=None) == 1
    assert set(
        EnforcementAction.objects.filter(kind=ActionKind.RESTRICT).values_list(
            "subject__organization__slug", flat=True
        )
    ) == {"globex"}


def test_the_preview_counts_a_user_the_new_rules_would_first_warn(
    acme, reviewer_decides, admin_user
):
    thresholds_save(
        organization=acme, rules=Rules(warn_violations=2, restrict_violations=3), user=admin_user
    )
    once = SubjectFactory(organization=acme)
    reviewer_decides(once, "VN")
    assert status_of(once) == SubjectStatus.ACTIVE
    preview = thresholds_preview(organization=acme, rules=Rules())
    assert preview == {"warned": 1, "restricted": 0, "proposals": 0, "total": 1}
    thresholds_save(organization=acme, rules=Rules(), user=admin_user)
    assert thresholds_apply(organization=acme) == 1
    assert actions_of(once) == [("warn", "taken", "threshold")]


def test_the_preview_leaves_out_violations_allowed_by_an_exception(acme, reviewer, admin_user):
    exception_grant(
        organization=acme,
        category=PolicyCategory.objects.get(slug="foreign-intelligence"),
        scope="analysis of foreign state actors",
        reference="MSA-2026-07 §4",
        valid_until=timezone.now() + timedelta(days=365),
        approved_by=admin_user,
    )
    analyst = SubjectFactory(organization=acme)
    for _ in range(3):
        decide(analyst, V, "foreign-intelligence", reviewer=reviewer)
    analyst.refresh_from_db()
    assert (analyst.status, analyst.violations, analyst.reviewed) == ("active", 0, 3)
    preview = thresholds_preview(organization=acme, rules=Rules())
    assert preview["total"] == thresholds_apply(organization=acme) == 0


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
