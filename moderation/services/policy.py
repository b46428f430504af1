"""Policy exceptions: what a vetted organization may do under contract, never a hard limit."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from moderation.models import (
    AuditAction,
    Organization,
    PolicyCategory,
    PolicyException,
    PolicySettings,
)
from moderation.services import config_cache
from moderation.services.audit import audit_record


class ExceptionRefused(ValueError):
    """The exception cannot be granted (a hard limit, or dates that make no sense)."""


class PolicySettingsInvalid(ValueError):
    """A sample or retention value out of range; nothing was saved."""


@transaction.atomic
def exception_grant(
    *,
    organization: Organization,
    category: PolicyCategory,
    scope: str,
    reference: str,
    valid_until: datetime,
    valid_from: datetime | None = None,
    approved_by: User | None = None,
    via: str = "app",
) -> PolicyException:
    if category.hard_limit:
        raise ExceptionRefused(
            f"{category.name} ({category.slug}) is a hard limit of the usage policy: "
            "no contract waives it, so no exception can be granted."
        )
    valid_from = valid_from or timezone.now()
    if valid_until <= valid_from:
        raise ExceptionRefused("The exception must end after it starts.")
    if not scope.strip() or not reference.strip():
        raise ExceptionRefused("An exception needs its scope and its contract reference.")
    exception = PolicyException.objects.create(
        organization=organization,
        category=category,
        scope=scope.strip(),
        reference=reference.strip(),
        valid_from=valid_from,
        valid_until=valid_until,
        approved_by=approved_by,
        approved_via=via,
    )
    audit_record(
        actor=approved_by,
        action=AuditAction.EXCEPTION_GRANT,
        target=f"{organization.slug}:{category.slug}",
        detail={
            "exception": exception.pk,
            "reference": exception.reference,
            "until": exception.valid_until.isoformat(),
            "via": via,
        },
    )
    return exception


@transaction.atomic
def exception_revoke(*, exception: PolicyException, user: User | None) -> None:
    exception.revoked_at = timezone.now()
    exception.save(update_fields=["revoked_at"])
    audit_record(
        actor=user,
        action=AuditAction.EXCEPTION_REVOKE,
        target=f"{exception.organization.slug}:{exception.category.slug}",
        detail={"exception": exception.pk},
    )


@transaction.atomic
def policy_settings_save(
    *, audit_sample_rate: float, retention_days: int, user: User
) -> PolicySettings:
    """Set the audit sample (a share, 0 to 1) and the retention (days); audited with the
    values before and after."""
    # `not 0 <= x <= 1` refuses NaN too: every comparison with NaN is false.
    if not 0 <= audit_sample_rate <= 1 or not 1 <= retention_days <= 3650:
        raise PolicySettingsInvalid("the sample is 0–100 % and retention 1–3650 days.")
    PolicySettings.current()  # the one row exists before it is locked
    current = PolicySettings.objects.select_for_update().get(pk=1)
    before = {
        "audit_sample_rate": current.audit_sample_rate,
        "retention_days": current.retention_days,
    }
    current.audit_sample_rate, current.retention_days = audit_sample_rate, retention_days
    current.updated_by = user
    current.save(update_fields=["audit_sample_rate", "retention_days", "updated_by", "updated_at"])
    audit_record(
        actor=user,
        action=AuditAction.POLICY_SETTINGS,
        target="policy settings",
        detail={
            "before": before,
            "after": {"audit_sample_rate": audit_sample_rate, "retention_days": retention_days},
        },
    )
    return current


def exceptions_active(
    *, organization_id: int, now: datetime | None = None
) -> list[PolicyException]:
    """The organization's exceptions in force now; expired or revoked ones never apply, and
    neither does one whose category has since become a hard limit.

    Read on every item page and violation: the organization's unrevoked exceptions are kept
    per process (services/config_cache.py, which watches PolicyException and PolicyCategory)
    and the dates are checked here, so one that starts or ends needs no write to be seen."""
    now = now or timezone.now()
    unrevoked = config_cache.cached(
        f"exceptions:{organization_id}",
        lambda: list(
            PolicyException.objects.select_related("category")
            .filter(
                organization_id=organization_id,
                revoked_at__isnull=True,
                category__hard_limit=False,
            )
            .order_by("pk")
        ),
    )
    return [e for e in unrevoked if e.valid_from <= now < e.valid_until]


def exception_covering(
    exceptions: Iterable[PolicyException], category_ids: Iterable[int]
) -> PolicyException | None:
    """The exception that allows all of these categories (each excepted), or None."""
    by_category = {e.category_id: e for e in exceptions}
    ids = list(category_ids)
    if not ids or any(cid not in by_category for cid in ids):
        return None
    return by_category[ids[0]]


def audit_sampled(*, organization_slug: str, request_id: str, rate: float | None = None) -> bool:
    """Whether an item allowed at ingest goes to the audit queue all the same.

    Deterministic per item (a hash, not a coin), so reprocessing a batch samples the same
    items and the share is exact over many items.
    """
    rate = PolicySettings.current().audit_sample_rate if rate is None else rate
    digest = hashlib.sha256(f"{organization_slug}:{request_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate
