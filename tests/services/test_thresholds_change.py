"""Changing the thresholds as the admin page does: stored, applied to every user in scope and
audited, all in one transaction; or the organization's own dropped for the global ones."""

from __future__ import annotations

from typing import Any

import pytest

from moderation.models import (
    AuditAction,
    AuditEvent,
    EnforcementAction,
    Subject,
    SubjectStatus,
    ThresholdChange,
    Thresholds,
)
from moderation.services import thresholds as thresholds_service
from moderation.services.thresholds import (
    Rules,
    thresholds_change,
    thresholds_for,
    thresholds_save,
    thresholds_use_global,
)
from tests.factories import SubjectFactory, decide

pytestmark = pytest.mark.django_db


def violations(subject: Subject, count: int, reviewer: Any) -> Subject:
    for _ in range(count):
        decide(subject, "violation", "fraud", reviewer=reviewer)
    subject.refresh_from_db()
    return subject


@pytest.fixture
def two_of_two(acme: Any, reviewer: Any) -> Subject:
    """Warned: two violations of two reviewed, one short of the default restrict rule."""
    return violations(SubjectFactory(organization=acme), 2, reviewer)


def test_it_stores_applies_and_audits_the_new_thresholds(admin_user, two_of_two):
    change = thresholds_change(
        organization=None, rules=Rules(restrict_violations=2), user=admin_user
    )
    assert change.subjects_changed == 1 and change.after["restrict_violations"] == 2
    assert thresholds_for(None).restrict_violations == 2
    two_of_two.refresh_from_db()
    assert two_of_two.status == SubjectStatus.RESTRICTED
    event = AuditEvent.objects.get(action=AuditAction.THRESHOLDS_CHANGE)
    assert (event.actor, event.target) == (admin_user, "global")
    assert event.detail["subjects_changed"] == 1
    assert event.detail["after"]["restrict_violations"] == 2


def test_when_the_audit_row_fails_nothing_is_changed(admin_user, two_of_two, monkeypatch):
    actions = EnforcementAction.objects.count()

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(thresholds_service, "audit_record", broken)
    with pytest.raises(RuntimeError):
        thresholds_change(organization=None, rules=Rules(restrict_violations=2), user=admin_user)
    assert thresholds_for(None).restrict_violations == 3
    assert not ThresholdChange.objects.exists()
    assert EnforcementAction.objects.count() == actions
    two_of_two.refresh_from_db()
    assert two_of_two.status == SubjectStatus.WARNED


def test_use_global_drops_the_own_thresholds_applies_and_audits(admin_user, acme, reviewer):
    thresholds_save(organization=acme, rules=Rules(restrict_violations=4), user=admin_user)
    subject = violations(SubjectFactory(organization=acme), 3, reviewer)
    assert subject.status == SubjectStatus.WARNED

    change = thresholds_use_global(organization=acme, user=admin_user)
    assert change is not None and change.subjects_changed == 1
    assert not Thresholds.objects.filter(organization=acme).exists()
    subject.refresh_from_db()
    assert subject.status == SubjectStatus.RESTRICTED
    event = AuditEvent.objects.get(action=AuditAction.THRESHOLDS_CHANGE)
    assert (event.actor, event.target) == (admin_user, "acme")
    assert event.detail == {"reset": True, "subjects_changed": 1}


def test_use_global_without_own_thresholds_does_nothing(admin_user, acme):
    assert thresholds_use_global(organization=acme, user=admin_user) is None
    assert not AuditEvent.objects.filter(action=AuditAction.THRESHOLDS_CHANGE).exists()
