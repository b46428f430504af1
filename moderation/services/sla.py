"""Service-level targets per queue and the claim order they give (issue 11, docs/architecture.md
"Claim order and SLAs").

Every waiting item has a due time, fixed when it enters its queue:

    due_at = queued_at + target(queue) × (1 − urgency / 2)

where urgency in [0, 1] is the strongest signal weighted by its category's severity
(`priority / 4000`, services/ingest.py). Claims take the earliest due item first. A strong
signal may wait half its queue's target, a weak one the whole target; an item that has waited
long is due before any item that arrives after its due time, so no stream of newer,
stronger flags can hold it back for ever (tests/services/test_sla.py proves it).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, Value
from django.db.models.expressions import CombinedExpression, Expression
from django.db.models.functions import Greatest, Least
from django.utils import timezone

from moderation.models import (
    DEFAULT_TARGET_MINUTES,
    WAITING_STATES,
    AuditAction,
    FlaggedItem,
    QueueTarget,
    ReviewQueue,
)
from moderation.services.audit import audit_record

# The priority of the strongest possible signal (score 1 in a critical category).
MAX_PRIORITY = 4000

# Share of the target after which a waiting item is shown "at risk".
AT_RISK_SHARE = 0.75


def urgency(priority: int) -> float:
    return min(max(priority, 0), MAX_PRIORITY) / MAX_PRIORITY


def due_at(*, queued_at: datetime, target: timedelta, priority: int) -> datetime:
    return queued_at + target * (1 - urgency(priority) / 2)


def target_text(target: timedelta) -> str:
    """ "24 h", "1 h 30 min", "45 min": how pages name a target."""
    minutes = int(target.total_seconds()) // 60
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h" + (f" {rest} min" if rest else "")


def default_target(queue: str) -> timedelta:
    return timedelta(minutes=DEFAULT_TARGET_MINUTES[ReviewQueue(queue)])


def targets() -> dict[str, timedelta]:
    """Each queue's target: the admins' setting, or the default for a queue never set."""
    found = {t.queue: timedelta(minutes=t.target_minutes) for t in QueueTarget.objects.all()}
    return {
        queue: found.get(queue, timedelta(minutes=DEFAULT_TARGET_MINUTES[ReviewQueue(queue)]))
        for queue in ReviewQueue.values
    }


def target_for(queue: str) -> timedelta:
    row = QueueTarget.objects.filter(queue=queue).only("target_minutes").first()
    if row is not None:
        return timedelta(minutes=row.target_minutes)
    return timedelta(minutes=DEFAULT_TARGET_MINUTES[ReviewQueue(queue)])


def entering(*, queue: str, priority: int, now: datetime) -> dict[str, object]:
    """The fields of an item that enters `queue` now (ingest, escalation): for release_to or
    a model constructor."""
    return {
        "queue": queue,
        "queued_at": now,
        "due_at": due_at(queued_at=now, target=target_for(queue), priority=priority),
    }


# --- admins set the targets (/settings/sla/) --------------------------------------------------

MIN_TARGET_MINUTES = 1
MAX_TARGET_MINUTES = 30 * 24 * 60
UNITS = {"minutes": 1, "hours": 60}


class TargetsInvalid(ValueError):
    """Targets that are not whole minutes from one minute to thirty days, each with its queue."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def target_parse(amount: str, unit: str) -> int:
    """Minutes from an amount in minutes or hours (1.5 hours is 90 minutes); ValueError saying
    what is wrong."""
    if unit not in UNITS:
        raise ValueError("Choose minutes or hours.")
    try:
        value = Decimal(amount.strip())
    except InvalidOperation:
        raise ValueError("A number: minutes or hours.") from None
    if not value.is_finite():
        raise ValueError("A number: minutes or hours.")
    minutes = value * UNITS[unit]
    if minutes != minutes.to_integral_value():
        raise ValueError("Whole minutes only.")
    if not MIN_TARGET_MINUTES <= minutes <= MAX_TARGET_MINUTES:
        raise ValueError("From 1 minute to 30 days (720 hours).")
    return int(minutes)


def targets_parse(raw: dict[str, tuple[str, str]]) -> dict[str, int]:
    """Each queue's (amount, unit) as minutes, all checked; TargetsInvalid naming every bad one."""
    minutes: dict[str, int] = {}
    errors: dict[str, str] = {}
    for queue in ReviewQueue.values:
        if queue not in raw:
            continue
        try:
            minutes[queue] = target_parse(*raw[queue])
        except ValueError as exc:
            errors[queue] = str(exc)
    if errors:
        raise TargetsInvalid(errors)
    return minutes


def _due_expression(target: timedelta) -> CombinedExpression:
    """`due_at()` in SQL, exactly: target × (1 − clamp(priority) / 8000) is
    target − (target / 8000) × clamp(priority), and target / 8000 is a whole number of
    microseconds for a target in whole minutes (7,500 µs a minute)."""
    clamped = Least(Greatest(F("priority"), Value(0)), Value(MAX_PRIORITY))
    step = target / (2 * MAX_PRIORITY)
    wait: Expression
    if connection.features.has_native_duration_field:  # PostgreSQL: intervals
        wait = (
            Value(target, output_field=DurationField())
            - Value(step, output_field=DurationField()) * clamped
        )
    else:  # SQLite keeps durations as integer microseconds
        wait = Value(_microseconds(target)) - Value(_microseconds(step)) * clamped
    return CombinedExpression(
        F("queued_at"),
        "+",
        ExpressionWrapper(wait, output_field=DurationField()),
        output_field=DateTimeField(),
    )


def _microseconds(duration: timedelta) -> int:
    return duration // timedelta(microseconds=1)


def due_recompute(*, queue: str, target: timedelta) -> int:
    """Set the due time of every item waiting in `queue` from its queued_at and `target`: one
    UPDATE; returns how many items it moved."""
    return FlaggedItem.objects.filter(queue=queue, state__in=WAITING_STATES).update(
        due_at=_due_expression(target)
    )


@transaction.atomic
def targets_save(*, minutes: dict[str, int], actor: User | None, via: str) -> dict[str, int]:
    """Set the queues' targets (minutes per queue given; others stay), re-time the items
    waiting in each changed queue so the claim order follows, and audit the change with the
    targets before and after. Returns the items re-timed per changed queue; nothing given
    differs: nothing written."""
    errors = {
        queue: "From 1 minute to 30 days (720 hours)."
        for queue, value in minutes.items()
        if not MIN_TARGET_MINUTES <= value <= MAX_TARGET_MINUTES
    }
    errors |= {queue: "Not a queue." for queue in minutes if queue not in ReviewQueue.values}
    if errors:
        raise TargetsInvalid(errors)
    for queue in ReviewQueue.values:  # every row exists before it is locked
        QueueTarget.objects.get_or_create(
            queue=queue,
            defaults={"target_minutes": DEFAULT_TARGET_MINUTES[ReviewQueue(queue)]},
        )
    rows = {t.queue: t for t in QueueTarget.objects.select_for_update().order_by("queue")}
    before = {queue: rows[queue].target_minutes for queue in ReviewQueue.values}
    changed = {q: m for q, m in minutes.items() if m != before[q]}
    if not changed:
        return {}
    now = timezone.now()
    retimed: dict[str, int] = {}
    for queue, value in changed.items():
        row = rows[queue]
        row.target_minutes = value
        row.updated_at = now
        row.updated_by = actor
        row.save(update_fields=["target_minutes", "updated_at", "updated_by"])
        retimed[queue] = due_recompute(queue=queue, target=row.target)
    audit_record(
        actor=actor,
        action=AuditAction.SLA_TARGETS,
        target="SLA targets",
        detail={
            "before": {q: before[q] for q in changed},
            "after": changed,
            "retimed": retimed,
            "via": via,
        },
    )
    return retimed


# --- at risk and overdue ----------------------------------------------------------------------


class Standing(StrEnum):
    ON_TIME = ""
    AT_RISK = "at_risk"
    OVERDUE = "overdue"


def standing(*, queued_at: datetime, target: timedelta, now: datetime) -> Standing:
    """Overdue once an item has waited past its queue's target; at risk from AT_RISK_SHARE of
    it (the target is the promise; an urgent item's earlier due time only orders claims)."""
    waited = now - queued_at
    if waited > target:
        return Standing.OVERDUE
    if waited >= target * AT_RISK_SHARE:
        return Standing.AT_RISK
    return Standing.ON_TIME
