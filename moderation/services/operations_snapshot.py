"""Snapshots of the operations dashboard (issue 12): the figures of each period computed by
the workers' sweep on a schedule, and served to the page and the CSV from one row.

The figures aggregate every decision of the period (percentiles over up to a million
durations at 30 days, about 4 s), which no index avoids, and decisions change after the fact
(undo, overturn), so an exact incremental rollup is not possible. Instead the sweep
(moderation/jobs.py `periodic`) recomputes a period with `operations_figures` once its
snapshot is older than REFRESH_EVERY, and the page reads the snapshot: the same function's
output, at most that old, with the time it was computed shown beside it.

- Several workers sweep at once: each refresh is claimed first by a conditional UPDATE
  (`refreshing_until`, checked by row count), so one worker computes a period and the others
  leave it. A worker that dies mid-refresh holds the claim until LEASE has passed.
- A sweep refreshes at most one period, so one sweep never blocks its worker for the sum of
  all three (the 30-day one alone is seconds); the shortest period is looked at first.
- The page never waits for the workers: with no snapshot, one older than STALE_FACTOR times
  its period's interval (workers stopped), or one this code can no longer read (the figures
  changed shape in a deploy), it computes the figures itself, stores them and serves them.

No pickle: the figures are stored as JSON (figures_dump, figures_load), driven by the
dataclasses' type hints, so a stored snapshot can only ever become an `Operations` again.
"""

from __future__ import annotations

import logging
import math
import types
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime, timedelta
from typing import Any, Union, get_args, get_origin, get_type_hints

from django.db.models import Q
from django.utils import timezone

from moderation.models import OperationsSnapshot
from moderation.services.operations import PERIODS, Operations, PeriodError, operations_figures

log = logging.getLogger(__name__)

# How old each period's snapshot may grow before the sweep computes it again: about the
# share of a bucket that one refresh moves (an hour's bucket at 24 h, six hours' at 7 d).
REFRESH_EVERY: dict[str, timedelta] = {
    "24h": timedelta(minutes=1),
    "7d": timedelta(minutes=5),
    "30d": timedelta(minutes=15),
}
# A snapshot older than this many intervals means no worker is refreshing it: the page
# computes the figures itself rather than show them.
STALE_FACTOR = 3
# A claimed refresh that has not finished by then is taken to have died with its worker.
LEASE = timedelta(minutes=5)

assert REFRESH_EVERY.keys() == PERIODS.keys(), "every period needs a refresh interval"


def stale_after(period: str) -> timedelta:
    return STALE_FACTOR * REFRESH_EVERY[period]


# --- JSON --------------------------------------------------------------------------------


def _dump(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _dump(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value // timedelta(microseconds=1)  # whole microseconds: exact
    if isinstance(value, dict):
        # As pairs: jsonb keeps an object's keys in its own order, and the CSV lists the
        # queues in the dict's.
        return [[_dump(k), _dump(v)] for k, v in value.items()]
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} has no JSON form")
    if value is None or isinstance(value, int | float | str):
        return value
    raise TypeError(f"{type(value).__name__} has no JSON form here")


def _load(hint: Any, data: Any) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        if data is None:
            if type(None) not in get_args(hint):
                raise ValueError(f"null where {hint} was expected")
            return None
        (inner,) = [a for a in get_args(hint) if a is not type(None)]
        return _load(inner, data)
    if origin is list:
        (item,) = get_args(hint)
        return [_load(item, v) for v in data]
    if origin is dict:
        key, value = get_args(hint)
        return {_load(key, k): _load(value, v) for k, v in data}
    if is_dataclass(hint) and isinstance(hint, type):
        hints = get_type_hints(hint)
        if set(data) != {f.name for f in fields(hint)}:
            raise ValueError(f"{hint.__name__}: fields {sorted(data)}")
        return hint(**{f.name: _load(hints[f.name], data[f.name]) for f in fields(hint)})
    if hint is datetime:
        return datetime.fromisoformat(data)
    if hint is timedelta:
        return timedelta(microseconds=data)
    if hint is float and isinstance(data, int | float):
        return float(data)
    if hint in (int, str) and type(data) is hint:
        return data
    raise ValueError(f"{data!r} is not a {hint}")


def figures_dump(report: Operations) -> dict[str, Any]:
    """The figures as JSON-ready values: datetimes ISO 8601 with their offset, durations in
    whole microseconds, dicts as [key, value] pairs in order. Raises ValueError on a value
    JSON cannot hold (a NaN)."""
    return _dump(report)


def figures_load(data: Any) -> Operations:
    """figures_dump's output back to the equal `Operations`; ValueError (or TypeError,
    KeyError) when it does not have the dataclasses' shape."""
    return _load(Operations, data)


# --- Refresh (the workers) ---------------------------------------------------------------


def _store(report: Operations) -> bool:
    """Keep `report` as its period's snapshot unless a newer one is there already (a slow
    refresh finishing after a page computed the figures live). Returns whether it was kept."""
    period = report.window.key
    OperationsSnapshot.objects.bulk_create(
        [OperationsSnapshot(period=period)], ignore_conflicts=True
    )
    return bool(
        OperationsSnapshot.objects.filter(period=period)
        .filter(Q(computed_at__isnull=True) | Q(computed_at__lt=report.now))
        .update(computed_at=report.now, figures=figures_dump(report))
    )


def _claim(period: str, now: datetime) -> datetime | None:
    """Claim the period's refresh if it is due and no live claim holds it: one UPDATE,
    which PostgreSQL runs on the row under its lock, so of two workers at once one changes
    the row and the other, re-reading it, finds it claimed. Returns the claim's end."""
    until = now + LEASE
    claimed = (
        OperationsSnapshot.objects.filter(period=period)
        .filter(Q(computed_at__isnull=True) | Q(computed_at__lte=now - REFRESH_EVERY[period]))
        .filter(Q(refreshing_until__isnull=True) | Q(refreshing_until__lte=now))
        .update(refreshing_until=until)
    )
    return until if claimed else None


def snapshots_refresh(now: datetime | None = None) -> str | None:
    """The sweep's task: compute the first period whose snapshot is due (older than its
    REFRESH_EVERY, or missing) and that this worker claims, and store it. Returns the period
    refreshed, or None (nothing due, or others refreshing). A sweep with nothing due costs
    one query."""
    now = now or timezone.now()
    rows = {
        row.period: row
        for row in OperationsSnapshot.objects.only("period", "computed_at", "refreshing_until")
    }
    for period, every in REFRESH_EVERY.items():
        row = rows.get(period)
        if row is None:
            OperationsSnapshot.objects.bulk_create(
                [OperationsSnapshot(period=period)], ignore_conflicts=True
            )
        elif (row.computed_at is not None and row.computed_at > now - every) or (
            row.refreshing_until is not None and row.refreshing_until > now
        ):
            continue
        until = _claim(period, now)
        if until is None:
            continue
        try:
            _store(operations_figures(period=period, now=now))
        finally:
            OperationsSnapshot.objects.filter(period=period, refreshing_until=until).update(
                refreshing_until=None
            )
        return period
    return None


# --- Serving (the page and the CSV) ------------------------------------------------------


@dataclass(frozen=True)
class Served:
    """The figures a page shows, and how fresh they are."""

    report: Operations
    # When they were computed (report.now); `live`: computed for this request.
    computed_at: datetime
    live: bool
    refresh_every: timedelta

    def age(self, now: datetime) -> timedelta:
        return max(timedelta(0), now - self.computed_at)

    def late(self, now: datetime) -> bool:
        """Older than two refreshes: the workers are behind or stopped."""
        return self.age(now) > 2 * self.refresh_every


def operations_served(*, period: str, now: datetime) -> Served:
    """The period's snapshot, or, when there is none fresh enough to show (none yet, older
    than stale_after(period), unreadable), the figures computed now and stored as the
    snapshot. A period that is not one of PERIODS raises PeriodError."""
    if period not in REFRESH_EVERY:
        raise PeriodError(f"“{period}” is not a period; choose one of {', '.join(PERIODS)}.")
    every = REFRESH_EVERY[period]
    row = (
        OperationsSnapshot.objects.filter(
            period=period, computed_at__gt=now - stale_after(period), figures__isnull=False
        )
        .only("computed_at", "figures")
        .first()
    )
    if row is not None and row.computed_at is not None:
        try:
            report = figures_load(row.figures)
        except (ValueError, TypeError, KeyError):
            log.warning(
                "operations snapshot %s unreadable; computing it now", period, exc_info=True
            )
            # Dropped, so that the figures computed now replace it whatever its time.
            OperationsSnapshot.objects.filter(period=period, computed_at=row.computed_at).update(
                computed_at=None, figures=None
            )
        else:
            return Served(
                report=report, computed_at=row.computed_at, live=False, refresh_every=every
            )
    report = operations_figures(period=period, now=now)
    _store(report)
    return Served(report=report, computed_at=now, live=True, refresh_every=every)
