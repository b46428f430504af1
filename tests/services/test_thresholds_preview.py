"""Threshold "Preview" equals what "Save" changes (issue 8, defect 8: Preview announced 2
users changing while Save changed 0). Both read each user's situation the same way and ask
the same pure rule, `enforcement_plan`; these tests hold them to it, case by case and for
random histories."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation.models import (
    ActionKind,
    ActionState,
    Decision,
    EnforcementAction,
    SubjectStatus,
    Verdict,
)
from moderation.services.enforcement import action_by_hand, removal_reject
from moderation.services.rates import subject_recount
from moderation.services.threshold_changes import thresholds_apply, thresholds_preview
from moderation.services.thresholds import Rules, thresholds_save
from tests.factories import FlaggedItemFactory, SubjectFactory, categories, decide

pytestmark = pytest.mark.django_db

V, N = Verdict.VIOLATION, Verdict.NO_VIOLATION
NOTHING = {"warned": 0, "restricted": 0, "proposals": 0, "total": 0}


def preview_then_save(organization, rules: Rules, admin) -> tuple[dict[str, int], int]:
    preview = thresholds_preview(organization=organization, rules=rules)
    thresholds_save(organization=organization, rules=rules, user=admin)
    return preview, thresholds_apply(organization=organization)


def test_a_reinstated_user_is_judged_on_what_they_did_since(acme, reviewer, senior, admin_user):
    user = SubjectFactory(organization=acme)
    for _ in range(3):
        decide(user, V, reviewer=reviewer)
    action_by_hand(subject=user, kind=ActionKind.REINSTATE, user=senior, reason="appeal by mail")
    preview, changed = preview_then_save(acme, Rules(), admin_user)
    assert preview == NOTHING and changed == 0


def test_a_rejected_removal_is_not_previewed_again_without_a_new_violation(
    acme, reviewer, senior, admin_user
):
    user = SubjectFactory(organization=acme)
    for _ in range(5):
        decide(user, V, reviewer=reviewer)
    removal_reject(action=user.actions.get(state=ActionState.PROPOSED), user=senior)
    preview, changed = preview_then_save(acme, Rules(), admin_user)
    assert preview == NOTHING and changed == 0


def test_a_longer_window_reaches_users_whose_stored_figures_are_empty(acme, reviewer, admin_user):
    user = SubjectFactory(organization=acme)
    decision = decide(user, V, reviewer=reviewer)
    Decision.objects.filter(pk=decision.pk).update(decided_at=timezone.now() - timedelta(days=40))
    subject_recount(subject=user)  # as the roll-forward does once it has left the window
    user.refresh_from_db()
    assert (user.status, user.violations) == ("warned", 0)
    longer = Rules(window_days=60, restrict_violations=1, restrict_rate=0.0)
    preview, changed = preview_then_save(acme, longer, admin_user)
    assert preview == {"warned": 0, "restricted": 1, "proposals": 0, "total": 1}
    assert changed == 1
    user.refresh_from_db()
    assert user.status == SubjectStatus.RESTRICTED


def test_undone_and_overturned_decisions_are_not_previewed(acme, reviewer, admin_user):
    user = SubjectFactory(organization=acme)
    decision = decide(user, V, reviewer=reviewer)
    Decision.objects.filter(pk=decision.pk).update(
        voided_at=timezone.now(), voided_by=reviewer, void_reason="undone"
    )
    preview, changed = preview_then_save(
        acme, Rules(restrict_violations=1, restrict_rate=0.0), admin_user
    )
    assert preview == NOTHING and changed == 0


# --- for random histories -----------------------------------------------------------------

NOW_SLACK = timedelta(minutes=1)


@st.composite
def rules(draw: st.DrawFn) -> Rules:
    warn = draw(st.integers(1, 3))
    restrict = draw(st.integers(warn, 4))
    return Rules(
        window_days=draw(st.sampled_from([7, 30, 60])),
        warn_violations=warn,
        restrict_violations=restrict,
        restrict_rate=draw(st.sampled_from([0.0, 0.5, 0.75])),
        remove_violations=draw(st.integers(restrict, 5)),
        remove_rate=draw(st.sampled_from([0.0, 0.5, 0.8])),
        remove_on_critical=draw(st.booleans()),
    )


# One decision: (days ago, verdict, critical, voided, allowed by an exception)
DECISIONS = st.tuples(
    st.integers(0, 50),
    st.sampled_from([V, N]),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
# One action: (days ago, kind and state, decided by)
ACTIONS = st.tuples(
    st.integers(0, 50),
    st.sampled_from(
        [
            (ActionKind.WARN, ActionState.TAKEN),
            (ActionKind.RESTRICT, ActionState.TAKEN),
            (ActionKind.REINSTATE, ActionState.TAKEN),
            (ActionKind.REMOVE, ActionState.TAKEN),
            (ActionKind.REMOVE, ActionState.REJECTED),
            (ActionKind.REMOVE, ActionState.WITHDRAWN),
        ]
    ),
    st.sampled_from(["threshold", "reviewer", "appeal", "correction"]),
)
SUBJECTS = st.lists(
    st.fixed_dictionaries(
        {
            "organization": st.sampled_from(["acme", "globex"]),
            "status": st.sampled_from(list(SubjectStatus)),
            "decisions": st.lists(DECISIONS, max_size=6),
            "actions": st.lists(ACTIONS, max_size=3),
            "proposal": st.booleans(),
        }
    ),
    min_size=1,
    max_size=4,
)


def build(spec: dict[str, Any], organizations: dict[str, Any], exception: Any, reviewer) -> None:
    """A user as the history says, written straight to the database: any state, also one
    the services would not reach, is a state the preview and the save must agree on."""
    now = timezone.now()
    subject = SubjectFactory(
        organization=organizations[spec["organization"]], status=spec["status"]
    )
    for days, verdict, critical, voided, allowed in spec["decisions"]:
        item = FlaggedItemFactory(subject=subject, organization=subject.organization)
        at = now - timedelta(days=days) - NOW_SLACK
        decision = Decision.objects.create(
            item=item,
            reviewer=reviewer,
            verdict=verdict,
            claimed_at=at,
            decided_at=at,
            allowed_by=exception if allowed and verdict == V else None,
            voided_at=now if voided else None,
            voided_by=reviewer if voided else None,
            void_reason="undone" if voided else "",
        )
        if verdict == V:
            decision.categories.set(categories("weapons" if critical else "hate"))
    for days, (kind, state), decided_by in spec["actions"]:
        at = now - timedelta(days=days) - NOW_SLACK
        EnforcementAction.objects.create(
            subject=subject,
            kind=kind,
            state=state,
            decided_by=decided_by,
            reason="history",
            violations=0,
            reviewed=0,
            violation_rate=0.0,
            created_at=at,
            effective_at=at if state == ActionState.TAKEN else None,
            resolved_at=at if state != ActionState.PROPOSED else None,
        )
    if spec["proposal"]:
        EnforcementAction.objects.create(
            subject=subject,
            kind=ActionKind.REMOVE,
            state=ActionState.PROPOSED,
            decided_by="threshold",
            reason="waiting",
            violations=0,
            reviewed=0,
            violation_rate=0.0,
        )


@pytest.fixture
def world(acme, globex, reviewer, admin_user):
    from moderation.services.policy import exception_grant

    exception = exception_grant(
        organization=acme,
        category=categories("hate")[0],
        scope="hate speech research corpus",
        reference="MSA-2026-09 §2",
        valid_until=timezone.now() + timedelta(days=365),
        approved_by=admin_user,
    )
    return {"acme": acme, "globex": globex}, exception


@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    subjects=SUBJECTS,
    new=rules(),
    acme_own=st.none() | rules(),
    scope=st.sampled_from([None, "acme", "globex"]),
)
def test_the_preview_counts_exactly_what_saving_changes(
    world, reviewer, admin_user, subjects, new, acme_own, scope
):
    organizations, exception = world
    with transaction.atomic():
        if acme_own is not None:
            thresholds_save(organization=organizations["acme"], rules=acme_own, user=admin_user)
        for spec in subjects:
            build(spec, organizations, exception, reviewer)
        organization = organizations[scope] if scope else None
        before = set(EnforcementAction.objects.values_list("pk", flat=True))

        preview = thresholds_preview(organization=organization, rules=new)
        thresholds_save(organization=organization, rules=new, user=admin_user)
        changed = thresholds_apply(organization=organization)

        assert preview["total"] == changed
        made = EnforcementAction.objects.exclude(pk__in=before)
        assert preview["warned"] == made.filter(kind=ActionKind.WARN).count()
        assert preview["restricted"] == made.filter(kind=ActionKind.RESTRICT).count()
        assert preview["proposals"] == made.filter(state=ActionState.PROPOSED).count()
        # Applied once, the same rules change nobody again.
        assert thresholds_preview(organization=organization, rules=new)["total"] == 0
        transaction.set_rollback(True)
