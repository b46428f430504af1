"""Two-factor changes, audited: setting it up, new recovery codes, an admin's reset.

The devices are accounts' `two_factor`; this module adds the audit row in the same
transaction (the arrows go from moderation to accounts, never back).
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import two_factor
from moderation.models import AuditAction
from moderation.services.audit import audit_record


@transaction.atomic
def two_factor_set_up(*, user: User, code: str) -> tuple[TOTPDevice, list[str]] | None:
    """Confirm the user's new authenticator app with a code from it, and give them their
    recovery codes. None, with nothing confirmed, when the code is wrong."""
    device = two_factor.totp_confirm(user=user, code=code)
    if device is None:
        return None
    codes = two_factor.recovery_codes_replace(user=user)
    audit_record(actor=user, action=AuditAction.TWO_FACTOR_SETUP, target=user.get_username())
    return device, codes


@transaction.atomic
def recovery_codes_renew(*, user: User) -> list[str]:
    """Ten new recovery codes for a user with two-factor on; the old ones stop working."""
    codes = two_factor.recovery_codes_replace(user=user)
    audit_record(actor=user, action=AuditAction.RECOVERY_CODES_NEW, target=user.get_username())
    return codes


@transaction.atomic
def two_factor_reset(*, user: User, actor: User | None, reason: str) -> None:
    """An admin (None: the command line) removes a user's authenticator app and recovery
    codes, e.g. for a lost phone; the user sets it up again at their next visit."""
    removed = two_factor.two_factor_remove(user=user)
    audit_record(
        actor=actor,
        action=AuditAction.TWO_FACTOR_RESET,
        target=user.get_username(),
        detail={"reason": reason, "devices_removed": removed},
    )
