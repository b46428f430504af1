"""New thresholds (thresholds_preview, thresholds_apply): the preview counts what applying them
then does, per organization or for everyone without their own, once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from moderation.models import (
    ActionKind,
    ActionState,
    EnforcementAction,
    PolicyCategory,
    SubjectStatus,
    Verdict,
)
from moderation.services.policy import exception_grant
from moderation.services.threshold_changes import thresholds_apply, thresholds_preview
from moderation.services.thresholds import Rules, thresholds_save
from tests.factories import SubjectFactory, actions_of, decide, status_of

pytestmark = pytest.mark.django_db

V, N = Verdict.VIOLATION, Verdict.NO_VIOLATION


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
