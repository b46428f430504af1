"""Policy settings (policy_settings_save): the audit sample rate and retention days, saved with
their audit row or not at all, and refused out of range."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError

from moderation.models import AuditAction, AuditEvent, PolicySettings
from moderation.services import policy

pytestmark = pytest.mark.django_db


def test_policy_settings_are_saved_with_their_audit_row(admin_user):
    saved = policy.policy_settings_save(audit_sample_rate=0.2, retention_days=45, user=admin_user)
    assert (saved.audit_sample_rate, saved.retention_days, saved.updated_by) == (
        0.2,
        45,
        admin_user,
    )
    event = AuditEvent.objects.get(action=AuditAction.POLICY_SETTINGS)
    assert event.detail == {
        "before": {"audit_sample_rate": 0.05, "retention_days": 90},
        "after": {"audit_sample_rate": 0.2, "retention_days": 45},
    }


@pytest.mark.parametrize(
    ("rate", "days"), [(-0.1, 30), (1.01, 30), (float("nan"), 30), (0.1, 0), (0.1, 3651)]
)
def test_policy_settings_out_of_range_are_refused(admin_user, rate, days):
    with pytest.raises(policy.PolicySettingsInvalid):
        policy.policy_settings_save(audit_sample_rate=rate, retention_days=days, user=admin_user)
    current = PolicySettings.current()
    assert (current.audit_sample_rate, current.retention_days) == (0.05, 90)
    assert not AuditEvent.objects.filter(action=AuditAction.POLICY_SETTINGS).exists()


def test_policy_settings_are_not_saved_when_the_audit_row_fails(admin_user, monkeypatch):
    def broken(**kwargs: Any) -> None:
        raise DatabaseError("audit log unavailable")

    monkeypatch.setattr(policy, "audit_record", broken)
    with pytest.raises(DatabaseError):
        policy.policy_settings_save(audit_sample_rate=0.2, retention_days=45, user=admin_user)
    current = PolicySettings.current()
    assert (current.audit_sample_rate, current.retention_days) == (0.05, 90)
