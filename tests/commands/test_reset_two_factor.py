"""reset_two_factor USERNAME [--reason]: an admin's way back in for someone who lost their phone."""

from __future__ import annotations

import pytest
from django.core.management import CommandError
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.two_factor import totp_enabled
from moderation.models import AuditAction, AuditEvent
from tests.factories import manage, run, two_factor_on

pytestmark = pytest.mark.django_db


def test_it_removes_the_app_and_the_recovery_codes(reviewer, senior):
    two_factor_on(reviewer)
    two_factor_on(senior)
    out = run("reset_two_factor", "rita", "--reason", "lost phone, ticket 42")
    assert out.strip() == "reset two-factor of rita"
    assert not TOTPDevice.objects.filter(user=reviewer).exists()
    assert not StaticDevice.objects.filter(user=reviewer).exists()
    assert totp_enabled(senior)  # nobody else's


def test_it_is_audited_without_an_actor(reviewer):
    two_factor_on(reviewer)
    run("reset_two_factor", "rita")
    event = AuditEvent.objects.get(action=AuditAction.TWO_FACTOR_RESET)
    assert event.actor is None and event.target == "rita"
    assert event.detail == {"reason": "reset from the command line", "devices_removed": 2}


def test_an_unknown_user_is_an_error():
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        run("reset_two_factor", "nobody")
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_unknown_user_exits_non_zero():
    result = manage("reset_two_factor", "nobody")
    assert result.returncode != 0 and "no user named 'nobody'" in result.stderr
