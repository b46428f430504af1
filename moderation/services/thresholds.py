"""Thresholds: which status a user's figures call for (CONTRACT §6), and their editing.

`thresholds_change` and `thresholds_use_global` are what the admin page calls: each stores,
applies the rules to every user in scope at once (services/enforcement.py) and writes its
audit row, in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from moderation.models import (
    AuditAction,
    Organization,
    SubjectStatus,
    ThresholdChange,
    Thresholds,
)
from moderation.services import config_cache
from moderation.services.audit import audit_record

STATUS_RANK = {
    SubjectStatus.ACTIVE: 0,
    SubjectStatus.WARNED: 1,
    SubjectStatus.RESTRICTED: 2,
    SubjectStatus.REMOVED: 3,
}


@dataclass(frozen=True)
class Rules:
    window_days: int = 30
    warn_violations: int = 1
    restrict_violations: int = 3
    restrict_rate: float = 0.5
    remove_violations: int = 5
    remove_rate: float = 0.8
    remove_on_critical: bool = True

    @classmethod
    def of(cls, thresholds: Thresholds) -> Rules:
        return cls(
            window_days=thresholds.window_days,
            warn_violations=thresholds.warn_violations,
            restrict_violations=thresholds.restrict_violations,
            restrict_rate=thresholds.restrict_rate,
            remove_violations=thresholds.remove_violations,
            remove_rate=thresholds.remove_rate,
            remove_on_critical=thresholds.remove_on_critical,
        )


@dataclass(frozen=True)
class Target:
    """What the figures call for: a status taken automatically, and whether to propose removal."""

    status: SubjectStatus
    propose_removal: bool


def status_target(
    *, violations: int, reviewed: int, critical_violation: bool, rules: Rules
) -> Target:
    """The pure rule of CONTRACT §6; the boundaries are inclusive (≥)."""
    rate = violations / reviewed if reviewed else 0.0
    status = SubjectStatus.ACTIVE
    if violations >= rules.warn_violations:
        status = SubjectStatus.WARNED
    if violations >= rules.restrict_violations and rate >= rules.restrict_rate:
        status = SubjectStatus.RESTRICTED
    remove = (violations >= rules.remove_violations and rate >= rules.remove_rate) or (
        rules.remove_on_critical and critical_violation and violations >= 1
    )
    return Target(status=status, propose_removal=remove)


def thresholds_global() -> Thresholds:
    thresholds, _ = Thresholds.objects.get_or_create(organization=None)
    return thresholds


def thresholds_for(organization: Organization | None) -> Thresholds:
    """The organization's own thresholds, else the global ones: read once per process until
    thresholds change in any process (services/config_cache.py)."""
    key = f"thresholds:{organization.pk if organization is not None else 'global'}"
    return config_cache.cached(key, lambda: _thresholds_read(organization))


def _thresholds_read(organization: Organization | None) -> Thresholds:
    if organization is not None:
        own = Thresholds.objects.filter(organization=organization).first()
        if own is not None:
            return own
    return thresholds_global()


class ThresholdsInvalid(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def rules_check(rules: Rules) -> None:
    """Refuse values that make no sense, each with the field it is about."""
    errors: dict[str, str] = {}
    if not 1 <= rules.window_days <= 365:
        errors["window_days"] = "The window is 1 to 365 days."
    for name in ("warn_violations", "restrict_violations", "remove_violations"):
        if not 1 <= getattr(rules, name) <= 10_000:
            errors[name] = "A violation count is a whole number from 1 to 10,000."
    for name in ("restrict_rate", "remove_rate"):
        if not 0.0 <= getattr(rules, name) <= 1.0:
            errors[name] = "A rate is a number from 0 to 1."
    if not errors and rules.restrict_violations < rules.warn_violations:
        errors["restrict_violations"] = "Restricting takes at least as many violations as warning."
    if not errors and rules.remove_violations < rules.restrict_violations:
        errors["remove_violations"] = "Removal takes at least as many violations as restricting."
    if errors:
        raise ThresholdsInvalid(errors)


@transaction.atomic
def thresholds_save(
    *, organization: Organization | None, rules: Rules, user: User
) -> tuple[Thresholds, ThresholdChange]:
    """Store new thresholds for the organization (None: global) and record the change."""
    rules_check(rules)
    if organization is None:
        # Make sure the global row exists first: otherwise reading `before` below creates it,
        # and the save would insert a second one (refused by thresholds_one_per_scope).
        thresholds_global()
    current = (
        Thresholds.objects.select_for_update().filter(organization=organization).first()
        if organization is not None
        else Thresholds.objects.select_for_update().filter(organization__isnull=True).first()
    )
    before = Rules.of(current if current is not None else thresholds_for(organization))
    thresholds = current or Thresholds(organization=organization)
    for name, value in rules.__dict__.items():
        setattr(thresholds, name, value)
    thresholds.updated_at = timezone.now()
    thresholds.updated_by = user
    thresholds.save()
    change = ThresholdChange.objects.create(
        organization=organization, changed_by=user, before=before.__dict__, after=rules.__dict__
    )
    return thresholds, change


@transaction.atomic
def thresholds_reset(*, organization: Organization, user: User) -> ThresholdChange | None:
    """Drop an organization's own thresholds, so the global ones apply again."""
    own = Thresholds.objects.filter(organization=organization).first()
    if own is None:
        return None
    before = Rules.of(own)
    own.delete()
    return ThresholdChange.objects.create(
        organization=organization,
        changed_by=user,
        before=before.__dict__,
        after=Rules.of(thresholds_global()).__dict__,
    )


def _apply(organization: Organization | None) -> int:
    # Imported here, not at the top: services/enforcement.py imports this module for the
    # rules, and applying them is enforcement's work.
    from moderation.services.threshold_changes import thresholds_apply

    return thresholds_apply(organization=organization)


@transaction.atomic
def thresholds_change(
    *, organization: Organization | None, rules: Rules, user: User
) -> ThresholdChange:
    """Store new thresholds (None: global) and apply them at once, so a user already past
    them does not wait for their next decision; the change records how many users changed
    status, and is audited. All or nothing."""
    _, change = thresholds_save(organization=organization, rules=rules, user=user)
    change.subjects_changed = _apply(organization)
    change.save(update_fields=["subjects_changed"])
    audit_record(
        actor=user,
        action=AuditAction.THRESHOLDS_CHANGE,
        target=organization.slug if organization else "global",
        detail={"after": change.after, "subjects_changed": change.subjects_changed},
    )
    return change


@transaction.atomic
def thresholds_use_global(*, organization: Organization, user: User) -> ThresholdChange | None:
    """Drop the organization's own thresholds and apply the global ones to its users, as a
    save would; None (and nothing done) when it had none of its own."""
    change = thresholds_reset(organization=organization, user=user)
    if change is None:
        return None
    change.subjects_changed = _apply(organization)
    change.save(update_fields=["subjects_changed"])
    audit_record(
        actor=user,
        action=AuditAction.THRESHOLDS_CHANGE,
        target=organization.slug,
        detail={"reset": True, "subjects_changed": change.subjects_changed},
    )
    return change
