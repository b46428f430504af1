"""Four eyes (issue 8, defect 10): every automatic action and removal proposal records the
counted violations it rests on (its basis), and nobody who decided an item behind a
proposal approves it; rejecting stays open to them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.roles import Role
from moderation.models import ActionKind, ActionState, FlaggedItem, SubjectStatus, Verdict
from moderation.services.enforcement import (
    EnforcementRefused,
    action_by_hand,
    removal_approve,
    removal_reject,
)
from moderation.services.policy import exception_grant
from moderation.services.review import decision_overturn
from tests.factories import (
    FlaggedItemFactory,
    UserFactory,
    categories,
    decide,
    proposal_of,
)

pytestmark = pytest.mark.django_db

V, N, E = Verdict.VIOLATION, Verdict.NO_VIOLATION, Verdict.ESCALATE


def test_automatic_actions_rest_on_the_counted_violations(user, reviewer, admin_user):
    exception_grant(
        organization=user.organization,
        category=categories("foreign-intelligence")[0],
        scope="analysis of foreign state actors",
        reference="MSA-2026-07 §4",
        valid_until=timezone.now() + timedelta(days=365),
        approved_by=admin_user,
    )
    first = decide(user, V, reviewer=reviewer)
    decide(user, V, "foreign-intelligence", reviewer=reviewer)  # allowed: not counted
    decide(user, N, reviewer=reviewer)
    second = decide(user, V, reviewer=reviewer)
    third = decide(user, V, reviewer=reviewer)
    warn = user.actions.get(kind=ActionKind.WARN)
    restrict = user.actions.get(kind=ActionKind.RESTRICT)
    assert set(warn.basis.all()) == {first}
    assert set(restrict.basis.all()) == {first, second, third}


def test_the_basis_starts_at_a_reinstatement(user, reviewer, senior):
    for _ in range(3):
        decide(user, V, reviewer=reviewer)
    action_by_hand(subject=user, kind=ActionKind.REINSTATE, user=senior, reason="appeal")
    since = decide(user, V, reviewer=reviewer)
    warn = user.actions.filter(kind=ActionKind.WARN).order_by("-created_at").first()
    assert list(warn.basis.all()) == [since]


def test_the_reviewer_whose_decision_triggered_the_proposal_cannot_approve_it(
    user, senior, admin_user
):
    decide(user, N, reviewer=senior)
    trigger = decide(user, V, "weapons", reviewer=senior)
    proposal = proposal_of(user)
    assert list(proposal.basis.all()) == [trigger]

    with pytest.raises(EnforcementRefused, match="You decided an item behind this proposal"):
        removal_approve(action=proposal, user=senior)
    proposal.refresh_from_db()
    assert proposal.state == ActionState.PROPOSED
    user.refresh_from_db()
    assert user.status == SubjectStatus.WARNED

    removal_approve(action=proposal, user=admin_user)
    user.refresh_from_db()
    assert user.status == SubjectStatus.REMOVED


def test_who_decided_an_item_behind_a_proposal_may_still_reject_it(user, senior):
    decide(user, V, "weapons", reviewer=senior)
    proposal = removal_reject(action=proposal_of(user), user=senior, note="fiction")
    assert proposal.state == ActionState.REJECTED


def test_an_escalation_on_an_item_behind_the_proposal_counts_too(user, senior, admin_user):
    other = UserFactory(username="otto", role=Role.SENIOR)
    item = FlaggedItemFactory(subject=user, organization=user.organization)
    decide(item, E, reviewer=senior, note="looks like a weapons recipe")
    decide(item, V, "weapons", reviewer=admin_user)
    proposal = proposal_of(user)
    for who in (senior, admin_user):
        with pytest.raises(EnforcementRefused, match=f"#{item.pk}"):
            removal_approve(action=proposal, user=who)
    removal_approve(action=proposal, user=other)
    proposal.refresh_from_db()
    assert proposal.state == ActionState.TAKEN and proposal.approved_by == other


def test_a_decision_that_no_longer_stands_does_not_bar_its_reviewer(user, senior, admin_user):
    first = decide(user, V, "weapons", reviewer=senior)
    decision_overturn(
        item=FlaggedItem.objects.get(pk=first.item_id),
        user=admin_user,
        verdict=V,
        categories=categories("weapons", "violence"),
        note="violence too",
    )
    proposal = proposal_of(user)
    assert [d.reviewer for d in proposal.basis.all()] == [admin_user]
    with pytest.raises(EnforcementRefused):
        removal_approve(action=proposal, user=admin_user)
    removal_approve(action=proposal, user=senior)
    user.refresh_from_db()
    assert user.status == SubjectStatus.REMOVED
