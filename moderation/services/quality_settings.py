"""Quality settings (issue 10): the share of claims served from golden items, the share of final
decisions sent to a blind second review, and whether every proposed removal is second-reviewed.

`set_quality` and /settings/quality/ both call `quality_settings_save`, which checks every value
first, changes nothing on any error, and audits a change (with the values before and after)
in the same transaction. Saving the values already set writes nothing.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from moderation.models import AuditAction, GoldSet, QualitySettings
from moderation.services.audit import audit_record

PERCENT_FIELDS = ("gold_percent", "second_review_percent")


class QualitySettingsInvalid(ValueError):
    """Values out of range or not numbers, each with the field it is about."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def percent_parse(text: str) -> Decimal:
    """A percentage from 0 to 100 with at most two decimals (what the model stores: a value it
    would round is refused, not silently changed); ValueError saying what is wrong."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError("A number from 0 to 100.") from None
    if problem := _percent_problem(value):
        raise ValueError(problem)
    return value


def _percent_problem(value: Decimal) -> str | None:
    if not value.is_finite() or not Decimal(0) <= value <= Decimal(100):
        return "A number from 0 to 100."
    if value != value.quantize(Decimal("0.01")):
        return "At most two decimals."
    return None


def percents_parse(raw: dict[str, str | None]) -> dict[str, Decimal]:
    """The percentages given (None: not given), all checked; QualitySettingsInvalid for any
    bad one, with every bad one named."""
    values: dict[str, Decimal] = {}
    errors: dict[str, str] = {}
    for name in PERCENT_FIELDS:
        text = raw.get(name)
        if text is None:
            continue
        try:
            values[name] = percent_parse(text)
        except ValueError as exc:
            errors[name] = str(exc)
    if errors:
        raise QualitySettingsInvalid(errors)
    return values


def quality_settings_json(settings: QualitySettings) -> dict[str, Any]:
    """The settings as `set_quality` prints them: numbers and a boolean."""
    return {
        "gold_percent": float(settings.gold_percent),
        "second_review_percent": float(settings.second_review_percent),
        "second_review_all_removals": settings.second_review_all_removals,
    }


def _snapshot(settings: QualitySettings) -> dict[str, Any]:
    return {
        "gold_percent": f"{settings.gold_percent.normalize():f}",
        "second_review_percent": f"{settings.second_review_percent.normalize():f}",
        "second_review_all_removals": settings.second_review_all_removals,
    }


@transaction.atomic
def quality_settings_save(
    *,
    gold_percent: Decimal | None = None,
    second_review_percent: Decimal | None = None,
    second_review_all_removals: bool | None = None,
    actor: User | None,
    via: str,
) -> QualitySettings:
    """Set the values given (None leaves one as it is); audited when anything changed."""
    given = {"gold_percent": gold_percent, "second_review_percent": second_review_percent}
    errors = {
        name: problem
        for name, value in given.items()
        if value is not None and (problem := _percent_problem(value))
    }
    if errors:
        raise QualitySettingsInvalid(errors)
    QualitySettings.current()  # the row exists before it is locked
    settings = QualitySettings.objects.select_for_update().get(pk=1)
    before = _snapshot(settings)
    if gold_percent is not None:
        settings.gold_percent = gold_percent
    if second_review_percent is not None:
        settings.second_review_percent = second_review_percent
    if second_review_all_removals is not None:
        settings.second_review_all_removals = second_review_all_removals
    after = _snapshot(settings)
    if after == before:
        return settings
    settings.updated_at = timezone.now()
    settings.updated_by = actor
    settings.save(
        update_fields=[
            "gold_percent",
            "second_review_percent",
            "second_review_all_removals",
            "updated_at",
            "updated_by",
        ]
    )
    audit_record(
        actor=actor,
        action=AuditAction.QUALITY_SETTINGS,
        target="quality settings",
        detail={"before": before, "after": after, "via": via},
    )
    return settings


@transaction.atomic
def gold_set_feedback(*, gold_set: GoldSet, feedback: bool, actor: User | None) -> GoldSet:
    """Whether a reviewer sees the expected answer and note after a wrong decision on one of
    the set's items; audited when it changes."""
    locked = GoldSet.objects.select_for_update().get(pk=gold_set.pk)
    if locked.feedback == feedback:
        return locked
    locked.feedback = feedback
    locked.save(update_fields=["feedback"])
    audit_record(
        actor=actor,
        action=AuditAction.QUALITY_SETTINGS,
        target=f"gold set {locked.name}",
        detail={
            "gold_set": locked.name,
            "before": {"feedback": not feedback},
            "after": {"feedback": feedback},
        },
    )
    return locked
