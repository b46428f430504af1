"""The operations dashboard (issue 11, CONTRACT §8 v2 "operations"): how the queues stand
against their service-level targets, how much comes in and goes out, how long items wait for a
decision and actions for their delivery, and what each reviewer gets through. docs/operations.md
gives each figure's formula.

Read only: the sampler that writes the queue samples is services/queue_sampler.py, the CSV
services/operations_csv.py. Every figure is an aggregate the database computes (counts
grouped by hour, `percentile_cont` in PostgreSQL) over an indexed range of one period, so the
page costs the same with a million items as with a thousand (tests/bench/operations.py). On
SQLite (the demo) the percentiles are worked out in Python from the period's durations.

The two sets of decisions the figures read:
- work: every decision made in the period on a real (not golden) item, escalations included,
  except those their own reviewer undid (taken back within the undo window, so not work done):
  decisions per hour and per reviewer;
- outcomes: the standing final decisions (violation or not) made in the period on real items,
  except those that overturned an earlier one (a correction, not the item's first answer):
  time to decision and SLA attainment.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.postgres.fields import ArrayField
from django.db import connection, transaction
from django.db.models import (
    Aggregate,
    Case,
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import TruncHour

from moderation.models import (
    FINAL_VERDICTS,
    Decision,
    Delivery,
    DeliveryStatus,
    FlaggedItem,
    QueueSample,
    ReviewQueue,
    VoidReason,
)
from moderation.services import sla

# The periods a lead may choose: (its length, the width of one bar or point on the charts).
PERIODS: dict[str, tuple[timedelta, timedelta]] = {
    "24h": (timedelta(hours=24), timedelta(hours=1)),
    "7d": (timedelta(days=7), timedelta(hours=6)),
    "30d": (timedelta(days=30), timedelta(days=1)),
}
PERIOD_LABELS = {"24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days"}
DEFAULT_PERIOD = "24h"
QUEUES: tuple[str, ...] = tuple(ReviewQueue.values)


class PeriodError(ValueError):
    pass


@dataclass(frozen=True)
class Window:
    """`[start, end)`, cut into buckets of `step`. It ends at the top of the hour after `now`,
    so the current hour is the last bucket and every bucket starts on a whole hour (UTC)."""

    key: str
    start: datetime
    end: datetime
    step: timedelta

    @classmethod
    def of(cls, key: str, *, now: datetime) -> Window:
        if key not in PERIODS:
            choices = ", ".join(PERIODS)
            raise PeriodError(f"“{key}” is not a period; choose one of {choices}.")
        length, step = PERIODS[key]
        end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        return cls(key=key, start=end - length, end=end, step=step)

    @property
    def label(self) -> str:
        return PERIOD_LABELS[self.key]

    @property
    def buckets(self) -> list[datetime]:
        count = int((self.end - self.start) / self.step)
        return [self.start + n * self.step for n in range(count)]

    def bucket_of(self, moment: datetime) -> int:
        return int((moment - self.start) / self.step)


# --- Percentiles --------------------------------------------------------------------------


class Percentiles(Aggregate):
    """PostgreSQL's continuous percentiles (linear interpolation between the two nearest
    values) at 0.5 and 0.9, in one sort and one evaluation of the expression a row."""

    function = "percentile_cont"
    template = "%(function)s(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = ArrayField(FloatField())


def _epoch(expression: Any) -> Func:
    return Func(
        expression, template="EXTRACT(EPOCH FROM %(expressions)s)", output_field=FloatField()
    )


def percentile_cont(values: Sequence[float], fraction: float) -> float | None:
    """What `percentile_cont` gives, for SQLite and for the tests' hand computations."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Spread:
    """How many durations, their median and 90th percentile, in seconds."""

    count: int
    median: float | None
    p90: float | None


def _spread(queryset: QuerySet[Any], duration: Any) -> Spread:
    """The median and p90 of `duration` (an expression giving a timedelta) over the queryset."""
    if connection.vendor == "postgresql":
        found = queryset.aggregate(count=Count("pk"), cut=Percentiles(_epoch(duration)))
        median, p90 = found["cut"] or (None, None)
        return Spread(count=found["count"], median=median, p90=p90)
    values = [
        d.total_seconds()
        for d in queryset.annotate(_d=ExpressionWrapper(duration, output_field=DurationField()))
        .values_list("_d", flat=True)
        .iterator()
        if d is not None
    ]
    return Spread(len(values), percentile_cont(values, 0.5), percentile_cont(values, 0.9))


# --- The figures --------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueNow:
    """A queue at the latest sample in the period (None when it was never sampled)."""

    queue: str
    label: str
    target: timedelta
    taken_at: datetime | None
    depth: int | None
    oldest_age_seconds: int | None
    overdue: int | None


@dataclass(frozen=True)
class QueueBucket:
    """The worst a queue stood in one bucket: its largest depth and oldest wait sampled."""

    depth: int | None
    oldest_age_seconds: int | None
    overdue: int | None


@dataclass(frozen=True)
class Attainment:
    """Outcomes of the period from one queue: how many were decided within its target."""

    queue: str
    label: str
    target: timedelta
    decided: int
    within: int

    @property
    def share(self) -> float | None:
        return self.within / self.decided if self.decided else None


@dataclass(frozen=True)
class ReviewerLine:
    reviewer_id: int
    reviewer: str
    decisions: int
    # Hours (UTC, whole) in which they made at least one decision.
    active_hours: int
    handling: Spread

    @property
    def per_active_hour(self) -> float:
        return self.decisions / self.active_hours if self.active_hours else 0.0


@dataclass(frozen=True)
class Deliveries:
    """The webhook deliveries created in the period, by where they stand now."""

    delivered: int
    failed: int
    pending: int

    @property
    def finished(self) -> int:
        return self.delivered + self.failed

    @property
    def success_rate(self) -> float | None:
        return self.delivered / self.finished if self.finished else None


@dataclass(frozen=True)
class Operations:
    window: Window
    now: datetime
    queues: list[QueueNow]
    # Per queue, one QueueBucket per bucket of the window.
    queue_series: dict[str, list[QueueBucket]]
    intake: list[int]
    decisions: list[int]
    to_decision: Spread
    to_action: Spread
    attainment: list[Attainment]
    reviewers: list[ReviewerLine]
    deliveries: Deliveries

    @property
    def buckets(self) -> list[datetime]:
        return self.window.buckets


def _golden_items() -> QuerySet[FlaggedItem, Any]:
    # A handful of rows, found on the gold foreign key's index: NOT IN them costs one hashed
    # look-up a decision, where a join to the items to read `gold` would scan them all.
    return FlaggedItem.objects.filter(gold__isnull=False).values("pk")


def work_decisions(window: Window) -> QuerySet[Decision]:
    """Decisions made in the window on real items, escalations included, not those undone."""
    return (
        Decision.objects.filter(decided_at__gte=window.start, decided_at__lt=window.end)
        .exclude(void_reason=VoidReason.UNDONE)
        .exclude(item_id__in=_golden_items())
    )


def outcome_decisions(window: Window) -> QuerySet[Decision]:
    """The standing final decisions made in the window on real items, not those that
    overturned an earlier decision."""
    return (
        Decision.objects.filter(
            decided_at__gte=window.start,
            decided_at__lt=window.end,
            voided_at__isnull=True,
            verdict__in=FINAL_VERDICTS,
        )
        .exclude(item_id__in=_golden_items())
        # Overturns are few: NOT IN their ids (on the replaced_by index) is one hashed
        # look-up a decision, where NOT EXISTS probed the index for each.
        .exclude(pk__in=Decision.objects.filter(replaced_by__isnull=False).values("replaced_by"))
    )


def _per_bucket(window: Window, hours: Iterable[tuple[datetime, int]]) -> list[int]:
    counts = [0] * len(window.buckets)
    for hour, n in hours:
        index = window.bucket_of(hour)
        if 0 <= index < len(counts):
            counts[index] += n
    return counts


def _hourly(queryset: QuerySet[Any], field: str) -> Iterable[tuple[datetime, int]]:
    rows = queryset.annotate(hour=TruncHour(field)).values("hour").annotate(n=Count("pk"))
    return ((row["hour"], row["n"]) for row in rows.order_by())


def _queue_figures(
    window: Window, targets: dict[str, timedelta]
) -> tuple[list[QueueNow], dict[str, list[QueueBucket]]]:
    samples = QueueSample.objects.filter(taken_at__gte=window.start, taken_at__lt=window.end)
    rows = (
        samples.annotate(hour=TruncHour("taken_at"))
        .values("queue", "hour")
        .annotate(depth=Max("depth"), oldest=Max("oldest_age_seconds"), overdue=Max("overdue"))
        .order_by()
    )
    worst: dict[str, list[dict[str, int | None]]] = {
        q: [{"depth": None, "oldest": None, "overdue": None} for _ in window.buckets]
        for q in QUEUES
    }
    for row in rows:
        index = window.bucket_of(row["hour"])
        if row["queue"] not in worst or not 0 <= index < len(window.buckets):
            continue
        cell = worst[row["queue"]][index]
        for name in ("depth", "oldest", "overdue"):
            value, before = row[name], cell[name]
            cell[name] = (
                value if before is None or (value is not None and value > before) else before
            )
    series = {
        q: [QueueBucket(c["depth"], c["oldest"], c["overdue"]) for c in cells]
        for q, cells in worst.items()
    }
    return _queues_now(samples, targets), series


def _queues_now(samples: QuerySet[QueueSample], targets: dict[str, timedelta]) -> list[QueueNow]:
    """The newest of these samples of each queue: one indexed look-up per queue."""
    latest = []
    for queue in QUEUES:
        sample = samples.filter(queue=queue).order_by("-taken_at").first()
        latest.append(
            QueueNow(
                queue=queue,
                label=ReviewQueue(queue).label,
                target=targets[queue],
                taken_at=sample.taken_at if sample else None,
                depth=sample.depth if sample else None,
                oldest_age_seconds=sample.oldest_age_seconds if sample else None,
                overdue=sample.overdue if sample else None,
            )
        )
    return latest


def queues_now(report: Operations, *, now: datetime) -> Operations:
    """The report with its "now" figures (each queue's depth, oldest wait and overdue items)
    from the newest samples read now, not the report's: a snapshot's are as old as the
    snapshot (up to 15 minutes at 30 days), the newest sample a minute at most."""
    samples = QueueSample.objects.filter(taken_at__gte=report.window.start, taken_at__lte=now)
    return replace(report, queues=_queues_now(samples, sla.targets()))


def _outcomes(window: Window, targets: dict[str, timedelta]) -> tuple[Spread, list[Attainment]]:
    """Time to decision over the outcomes, and per queue the item was decided from, how many
    were decided within the queue's target of queued_at (the time it entered that queue: at
    ingest, or when escalated). On PostgreSQL one pass over the period's outcomes, each
    joined to its item by primary key (operations_figures turns hash joins off: a hash join
    would read all the items to find the period's few thousand)."""
    target = Case(
        *[When(from_queue=q, then=Value(t)) for q, t in targets.items()],
        default=Value(timedelta(0)),
        output_field=DurationField(),
    )
    deadline = ExpressionWrapper(F("item__queued_at") + F("target"), output_field=DateTimeField())
    outcomes = outcome_decisions(window).annotate(target=target)
    took = F("decided_at") - F("item__received_at")
    counts: dict[str, Any] = {}
    for q in QUEUES:
        counts[f"decided_{q}"] = Count("pk", filter=Q(from_queue=q))
        counts[f"within_{q}"] = Count("pk", filter=Q(from_queue=q, decided_at__lte=deadline))
    if connection.vendor == "postgresql":
        found = outcomes.aggregate(count=Count("pk"), cut=Percentiles(_epoch(took)), **counts)
        median, p90 = found["cut"] or (None, None)
        spread = Spread(count=found["count"], median=median, p90=p90)
    else:
        found = outcomes.aggregate(**counts)
        spread = _spread(outcomes, took)
    attainment = [
        Attainment(
            queue=q,
            label=ReviewQueue(q).label,
            target=targets[q],
            decided=found[f"decided_{q}"],
            within=found[f"within_{q}"],
        )
        for q in QUEUES
    ]
    return spread, attainment


def _reviewers(window: Window) -> list[ReviewerLine]:
    work = work_decisions(window).values("reviewer_id").order_by()
    counted = {"n": Count("pk"), "hours": Count(TruncHour("decided_at"), distinct=True)}
    spreads: dict[int, Spread] = {}
    if connection.vendor == "postgresql":
        # One pass: the counts and the percentiles of each reviewer together.
        rows: list[dict[str, Any]] = list(
            work.annotate(**counted, cut=Percentiles(F("seconds_spent")))  # type: ignore[arg-type]
        )
        for row in rows:
            spreads[row["reviewer_id"]] = Spread(row["n"], *row["cut"])
    else:
        rows = list(work.annotate(**counted))  # type: ignore[arg-type]
        by_reviewer: dict[int, list[float]] = defaultdict(list)
        for reviewer, spent in work.values_list("reviewer_id", "seconds_spent").iterator():
            by_reviewer[reviewer].append(float(spent))
        for reviewer, values in by_reviewer.items():
            spreads[reviewer] = Spread(
                len(values), percentile_cont(values, 0.5), percentile_cont(values, 0.9)
            )
    names = dict(
        get_user_model()
        .objects.filter(pk__in=[r["reviewer_id"] for r in rows])
        .values_list("pk", "username")
    )
    lines = [
        ReviewerLine(
            reviewer_id=r["reviewer_id"],
            reviewer=names.get(r["reviewer_id"], f"user {r['reviewer_id']}"),
            decisions=r["n"],
            active_hours=r["hours"],
            handling=spreads[r["reviewer_id"]],
        )
        for r in rows
    ]
    return sorted(lines, key=lambda line: (-line.decisions, line.reviewer))


def _to_action(window: Window) -> Spread:
    """From the newest decision an action rested on to the delivery of that action, for the
    deliveries created in the window and delivered since. Actions resting on no decision
    (by hand, an upheld appeal, a correction) have no such time and are left out."""
    newest_basis = Subquery(
        Decision.objects.filter(enforcement_actions=OuterRef("action_id"))
        .order_by("-decided_at")
        .values("decided_at")[:1]
    )
    delivered = (
        Delivery.objects.filter(
            created_at__gte=window.start,
            created_at__lt=window.end,
            status=DeliveryStatus.DELIVERED,
            delivered_at__isnull=False,
        )
        .annotate(basis_at=newest_basis)
        .filter(basis_at__isnull=False)
    )
    return _spread(delivered, F("delivered_at") - F("basis_at"))


def _deliveries(window: Window) -> Deliveries:
    counts = dict(
        Delivery.objects.filter(created_at__gte=window.start, created_at__lt=window.end)
        .values("status")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("status", "n")
    )
    return Deliveries(
        delivered=counts.get(DeliveryStatus.DELIVERED, 0),
        failed=counts.get(DeliveryStatus.FAILED, 0),
        pending=counts.get(DeliveryStatus.PENDING, 0),
    )


def operations_figures(*, period: str = DEFAULT_PERIOD, now: datetime) -> Operations:
    """Every figure of the dashboard for the period ending with the hour of `now`. A period
    that is not one of PERIODS raises PeriodError."""
    window = Window.of(period, now=now)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # The aggregates read a few thousand rows each: compiling them (JIT, which their
            # cost estimate would set off) or starting parallel workers for them takes longer
            # than running them.
            # Nor may it join decisions to items by hashing: that reads every item, where the
            # period's decisions need a few thousand, each found by primary key.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
                cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
                cursor.execute("SET LOCAL enable_hashjoin = off")
                cursor.execute("SET LOCAL enable_mergejoin = off")
        return _figures(window, now)


def _figures(window: Window, now: datetime) -> Operations:
    targets = sla.targets()
    queues, series = _queue_figures(window, targets)
    to_decision, attainment = _outcomes(window, targets)
    items = FlaggedItem.objects.filter(
        received_at__gte=window.start, received_at__lt=window.end, gold__isnull=True
    )
    return Operations(
        window=window,
        now=now,
        queues=queues,
        queue_series=series,
        intake=_per_bucket(window, _hourly(items, "received_at")),
        decisions=_per_bucket(window, _hourly(work_decisions(window), "decided_at")),
        to_decision=to_decision,
        to_action=_to_action(window),
        attainment=attainment,
        reviewers=_reviewers(window),
        deliveries=_deliveries(window),
    )
