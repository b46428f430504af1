"""Exceptions in review: a violation only in an excepted category is allowed and not counted,
while the exception is in force (not expired, revoked, not yet valid, nor a hard limit now)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from moderation.models import (
    ActionKind,
    AuditAction,
    AuditEvent,
    Decision,
    EnforcementAction,
    Organization,
    PolicyCategory,
    PolicyException,
    SubjectStatus,
    Verdict,
)
from moderation.services import policy
from tests.factories import SubjectFactory, decide, grant_exception, subject_of

pytestmark = pytest.mark.django_db


def violation(organization: Organization, reviewer: Any, *slugs: str) -> Decision:
    """A new item of a new user of the organization, decided a violation in these categories."""
    return decide(
        SubjectFactory(organization=organization), Verdict.VIOLATION, *slugs, reviewer=reviewer
    )


def test_a_violation_only_in_an_excepted_category_is_allowed_and_not_counted(acme, reviewer):
    exception = grant_exception(acme)
    decision = violation(acme, reviewer, "foreign-intelligence")
    assert decision.allowed_by == exception
    subject = subject_of(decision)
    assert (subject.violations, subject.reviewed, subject.violation_rate) == (0, 1, 0.0)
    assert subject.status == SubjectStatus.ACTIVE
    assert not EnforcementAction.objects.filter(subject=subject).exists()
    event = AuditEvent.objects.get(action=AuditAction.ITEM_DECIDE, item=decision.item)
    assert event.detail["allowed_by_exception"] == exception.pk
    assert event.detail["verdict"] == "violation"


def test_the_same_violation_in_another_organization_counts(acme, globex, reviewer):
    grant_exception(acme)
    decision = violation(globex, reviewer, "foreign-intelligence")
    assert decision.allowed_by is None
    subject = subject_of(decision)
    assert (subject.violations, subject.reviewed, subject.violation_rate) == (1, 1, 1.0)
    assert subject.status == SubjectStatus.WARNED
    assert EnforcementAction.objects.filter(subject=subject, kind=ActionKind.WARN).exists()


def test_a_violation_in_an_excepted_and_a_non_excepted_category_counts(acme, reviewer):
    grant_exception(acme)
    decision = violation(acme, reviewer, "foreign-intelligence", "fraud")
    assert decision.allowed_by is None
    subject = subject_of(decision)
    assert (subject.violations, subject.reviewed) == (1, 1)
    assert subject.status == SubjectStatus.WARNED


def test_allowed_violations_stay_out_of_the_rate_among_counted_ones(acme, reviewer):
    grant_exception(acme)
    subject = SubjectFactory(organization=acme)
    for slugs in (["foreign-intelligence"], ["foreign-intelligence"], ["fraud"], []):
        decide(
            subject, Verdict.VIOLATION if slugs else Verdict.NO_VIOLATION, *slugs, reviewer=reviewer
        )
    subject.refresh_from_db()
    assert (subject.violations, subject.reviewed, subject.violation_rate) == (1, 4, 0.25)
    assert Decision.objects.filter(item__subject=subject, allowed_by__isnull=False).count() == 2


def test_an_expired_exception_stops_applying_on_its_own(acme, reviewer):
    exception = grant_exception(acme)
    assert violation(acme, reviewer, "foreign-intelligence").allowed_by == exception
    # The contract ran out: nobody revokes anything, the end date alone does it.
    now = timezone.now()
    PolicyException.objects.filter(pk=exception.pk).update(
        valid_from=now - timedelta(days=30), valid_until=now - timedelta(seconds=1)
    )
    decision = violation(acme, reviewer, "foreign-intelligence")
    assert decision.allowed_by is None
    assert subject_of(decision).violations == 1


def test_a_revoked_exception_stops_applying(acme, reviewer, admin_user):
    exception = grant_exception(acme)
    policy.exception_revoke(exception=exception, user=admin_user)
    exception.refresh_from_db()
    assert exception.revoked_at is not None
    event = AuditEvent.objects.get(action=AuditAction.EXCEPTION_REVOKE)
    assert event.actor == admin_user and event.detail == {"exception": exception.pk}
    decision = violation(acme, reviewer, "foreign-intelligence")
    assert decision.allowed_by is None
    assert subject_of(decision).violations == 1


def test_a_not_yet_valid_exception_does_not_apply(acme, reviewer):
    now = timezone.now()
    grant_exception(acme, valid_from=now + timedelta(days=1), valid_until=now + timedelta(days=30))
    decision = violation(acme, reviewer, "foreign-intelligence")
    assert decision.allowed_by is None
    assert subject_of(decision).violations == 1


def test_exceptions_active_lists_only_those_in_force(acme, globex):
    now = timezone.now()
    active = grant_exception(acme)
    grant_exception(
        acme, "fraud", valid_from=now + timedelta(days=2), valid_until=now + timedelta(days=9)
    )
    grant_exception(globex, "privacy")
    expired = grant_exception(acme, "hate")
    PolicyException.objects.filter(pk=expired.pk).update(
        valid_from=now - timedelta(days=9), valid_until=now - timedelta(days=1)
    )
    revoked = grant_exception(acme, "sexual")
    policy.exception_revoke(exception=revoked, user=None)
    assert policy.exceptions_active(organization_id=acme.pk) == [active]
    # Looking back, the expired one was in force.
    back_then = policy.exceptions_active(organization_id=acme.pk, now=now - timedelta(days=5))
    assert [e.category.slug for e in back_then] == ["hate"]


def test_an_exception_whose_category_became_a_hard_limit_no_longer_applies(acme, reviewer):
    exception = grant_exception(acme)
    PolicyCategory.objects.filter(slug="foreign-intelligence").update(hard_limit=True)
    assert policy.exceptions_active(organization_id=acme.pk) == []
    assert violation(acme, reviewer, "foreign-intelligence").allowed_by is None
    # ... and an admin can still revoke it for the record.
    policy.exception_revoke(exception=exception, user=None)
    exception.refresh_from_db()
    assert exception.revoked_at is not None
