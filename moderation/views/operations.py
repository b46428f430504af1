"""/reports/operations/ and its CSV (seniors and admins, CONTRACT §8 v2 "operations"): the
queues against their targets, intake and decisions, time to decision and to action, reviewers'
throughput (docs/operations.md). Charts are SVG drawn here on the server, each with its table."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.access import role_required
from accounts.roles import Role
from moderation.services.operations import (
    DEFAULT_PERIOD,
    PERIOD_LABELS,
    PERIODS,
    Operations,
    Spread,
    queues_now,
)
from moderation.services.operations_csv import operations_csv
from moderation.services.operations_snapshot import Served, operations_served
from moderation.views._types import SignedInRequest
from moderation.views.reports import csv_text

# The charts' drawing box (SVG user units) and its plot area inside it.
CHART_W, CHART_H = 640, 210
LEFT, RIGHT, TOP, BOTTOM = 48, 628, 12, 170
# The full-width chart (items in and decisions): twice as wide, the same height.
WIDE_W, WIDE_RIGHT = 1280, 1268
# Each queue's colour class on the charts, in the order they are drawn and listed.
QUEUE_CLASSES = {
    "critical": "series-critical",
    "escalated": "series-escalated",
    "standard": "series-standard",
    "audit": "series-audit",
}


def duration(seconds: float | None) -> str:
    """A length of time as a lead reads it: 45 s, 2 min 05 s, 12 min, 3 h 05 min, 2 d 4 h
    (seconds shown up to ten minutes: handling times are that short)."""
    if seconds is None:
        return "–"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 600:
        minutes, rest = divmod(s, 60)
        return f"{minutes} min {rest:02d} s"
    if s < 90 * 60:
        return f"{round(s / 60)} min"
    if s < 48 * 3600:
        hours, minutes = divmod(round(s / 60), 60)
        return f"{hours} h {minutes:02d} min" if minutes else f"{hours} h"
    days, hours = divmod(round(s / 3600), 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def percent(share: float | None) -> str:
    return "–" if share is None else f"{round(100 * share)} %"


def _bucket_label(moment: datetime, period: str) -> str:
    return f"{moment:%H:%M}" if period == "24h" else f"{moment.day} {moment:%b}"


def _bucket_name(moment: datetime, period: str) -> str:
    """The bucket's start as the tables and tooltips name it."""
    return f"{moment:%-d %b %H:%M}" if period != "30d" else f"{moment:%-d %b %H:%M} (24 h)"


def _scale_steps(value: float) -> tuple[float, float]:
    """The top of a scale reaching `value` and its grid step: about four steps of 1, 2, 2.5
    or 5 times a power of ten (2.5 only where it stays a whole number), never below 1."""
    raw = max(value, 1) / 4
    power = 10 ** math.floor(math.log10(raw))
    choices = (1, 2, 2.5, 5, 10) if power >= 10 else (1, 2, 5, 10)
    step = max(1.0, next(m * power for m in choices if m * power >= raw))
    return max(step, math.ceil(value / step) * step), step


def _axis(buckets: list[datetime], period: str, right: float = RIGHT) -> tuple[Any, Any]:
    slot = (right - LEFT) / max(1, len(buckets))

    def x(n: int) -> float:
        return round(LEFT + slot * (n + 0.5), 1)

    step = max(1, round(len(buckets) / 8))
    ticks = [
        {"x": x(n), "label": _bucket_label(b, period)}
        for n, b in enumerate(buckets)
        if n % step == 0
    ]
    return x, ticks


def _scale(value: float) -> tuple[Any, list[float]]:
    """y of a value on a scale reaching `value`, and the grid lines' values."""
    top, step = _scale_steps(value)

    def y(v: float) -> float:
        return round(BOTTOM - (BOTTOM - TOP) * v / top, 1)

    return y, [step * k for k in range(round(top / step) + 1)]


def _lines(values: list[float | None], x: Any, y: Any) -> list[str]:
    """Polylines through the points; a bucket without a value breaks the line."""
    found: list[str] = []
    run: list[str] = []
    for n, v in enumerate([*values, None]):
        if v is None:
            if run:
                found.append(" ".join(run))
            run = []
        else:
            run.append(f"{x(n)},{y(v)}")
    return found


def _line_chart(
    report: Operations,
    series: list[tuple[str, str, list[float | None]]],
    *,
    unit: str,
    top: float,
    label: Any,
    reference: float | None = None,
) -> dict[str, Any]:
    period = report.window.key
    x, ticks = _axis(report.buckets, period)
    y, grid = _scale(top)
    drawn = []
    for name, css, values in series:
        drawn.append(
            {
                "name": name,
                "css": css,
                "lines": _lines(values, x, y),
                # A lone point (a gap on either side) would draw no line: a dot shows it.
                "points": [
                    {
                        "x": x(n),
                        "y": y(v),
                        "title": f"{name}, {_bucket_name(b, period)}: {label(v)}",
                    }
                    for n, (b, v) in enumerate(zip(report.buckets, values, strict=True))
                    if v is not None
                ],
            }
        )
    return {
        "series": drawn,
        "grid": [{"y": y(v), "label": label(v) if v else "0"} for v in grid],
        "ticks": ticks,
        "reference": None if reference is None else y(reference),
        "unit": unit,
        "box": {"w": CHART_W, "h": CHART_H, "left": LEFT, "right": RIGHT, "bottom": BOTTOM},
        "rows": [
            {"bucket": _bucket_name(b, period), "values": [label(s[2][n]) for s in series]}
            for n, b in enumerate(report.buckets)
        ],
        "headers": [name for name, _, _ in series],
    }


def _count(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


def _flow_chart(report: Operations) -> dict[str, Any]:
    """Intake and decisions per bucket as pairs of bars."""
    period = report.window.key
    buckets = report.buckets
    y, grid = _scale(max([*report.intake, *report.decisions, 1]))
    slot = (WIDE_RIGHT - LEFT) / max(1, len(buckets))
    width = round(max(1.0, slot * 0.36), 1)
    x, ticks = _axis(buckets, period, right=WIDE_RIGHT)
    bars = []
    for n, bucket in enumerate(buckets):
        name = _bucket_name(bucket, period)
        for value, css, offset, what in (
            (report.intake[n], "bar-intake", -width, "items in"),
            (report.decisions[n], "bar-decisions", 0.0, "decisions"),
        ):
            if value:
                bars.append(
                    {
                        "x": round(x(n) + offset, 1),
                        "y": y(value),
                        "w": width,
                        "h": round(BOTTOM - y(value), 1),
                        "css": css,
                        "title": f"{name}: {value} {what}",
                    }
                )
    return {
        "bars": bars,
        "grid": [{"y": y(v), "label": f"{v:g}"} for v in grid],
        "ticks": ticks,
        "box": {"w": WIDE_W, "h": CHART_H, "left": LEFT, "right": WIDE_RIGHT, "bottom": BOTTOM},
        "rows": [
            {"bucket": _bucket_name(b, period), "intake": i, "decisions": d}
            for b, i, d in zip(buckets, report.intake, report.decisions, strict=True)
        ],
    }


def _spread(spread: Spread) -> dict[str, Any]:
    return {"count": spread.count, "median": duration(spread.median), "p90": duration(spread.p90)}


def _context(report: Operations) -> dict[str, Any]:
    queues = report.queues
    depth_series: list[tuple[str, str, list[float | None]]] = [
        (q.label, QUEUE_CLASSES[q.queue], [c.depth for c in report.queue_series[q.queue]])
        for q in queues
    ]
    depth_top = max([v or 0 for _, _, values in depth_series for v in values] + [1])
    # The oldest wait as a share of the queue's target: 100 % is the target, on every queue.
    age_series: list[tuple[str, str, list[float | None]]] = [
        (
            q.label,
            QUEUE_CLASSES[q.queue],
            [
                None
                if c.oldest_age_seconds is None
                else round(100 * c.oldest_age_seconds / q.target.total_seconds(), 1)
                for c in report.queue_series[q.queue]
            ],
        )
        for q in queues
    ]
    age_top = max([v or 0 for _, _, values in age_series for v in values] + [100])
    busiest = max([r.decisions for r in report.reviewers] + [1])
    sampled = [q.taken_at for q in queues if q.taken_at is not None]
    return {
        "report": report,
        "queues": [
            {
                "q": q,
                "css": QUEUE_CLASSES[q.queue],
                "target": duration(q.target.total_seconds()),
                "oldest": duration(q.oldest_age_seconds),
                "late": q.oldest_age_seconds is not None
                and q.oldest_age_seconds > q.target.total_seconds(),
            }
            for q in queues
        ],
        "sampled_at": max(sampled, default=None),
        "waiting": sum(q.depth or 0 for q in queues),
        "overdue": sum(q.overdue or 0 for q in queues),
        "depth_chart": _line_chart(
            report, depth_series, unit="items waiting", top=depth_top, label=_count
        ),
        "age_chart": _line_chart(
            report,
            age_series,
            unit="% of target",
            top=age_top,
            label=lambda v: "–" if v is None else f"{v:g} %",
            reference=100.0,
        ),
        "flow_chart": _flow_chart(report),
        "intake_total": sum(report.intake),
        "decisions_total": sum(report.decisions),
        "to_decision": _spread(report.to_decision),
        "to_action": _spread(report.to_action),
        "attainment": [
            {
                "a": a,
                "target": duration(a.target.total_seconds()),
                "percent": percent(a.share),
                "width": 0 if a.share is None else round(100 * a.share),
                "css": QUEUE_CLASSES[a.queue],
            }
            for a in report.attainment
        ],
        "reviewers": [
            {
                "r": r,
                "per_hour": f"{r.per_active_hour:.1f}",
                "median": duration(r.handling.median),
                "p90": duration(r.handling.p90),
                "width": round(100 * r.decisions / busiest),
            }
            for r in report.reviewers
        ],
        "success": percent(report.deliveries.success_rate),
        "step": {"24h": "hour", "7d": "6 hours", "30d": "day"}[report.window.key],
    }


def _every(interval: timedelta) -> str:
    minutes = round(interval.total_seconds() / 60)
    return "every minute" if minutes == 1 else f"every {minutes} minutes"


def _freshness(served: Served, now: datetime) -> dict[str, Any]:
    """When the figures were computed, so that a lead never takes a snapshot for live."""
    return {
        "computed_at": served.computed_at,
        "computed_ago": "just now"
        if served.live or served.age(now) < timedelta(seconds=1)
        else f"{duration(served.age(now).total_seconds())} ago",
        "refresh_every": _every(served.refresh_every),
        "late": served.late(now),
    }


def _period(request: SignedInRequest) -> tuple[str | None, str]:
    period = request.GET.get("period", DEFAULT_PERIOD).replace("\x00", "")
    if period in PERIODS:
        return period, ""
    return None, f"“{period[:20]}” is not a period; choose one of {', '.join(PERIODS)}."


@role_required(Role.SENIOR)
@require_GET
def operations_page(request: SignedInRequest) -> HttpResponse:
    period, error = _period(request)
    context: dict[str, Any] = {
        "choices": [{"key": k, "label": PERIOD_LABELS[k]} for k in PERIODS],
        "period": period,
        "error": error,
    }
    if period is not None:
        now = timezone.now()
        served = operations_served(period=period, now=now)
        # The queues as they stand now (the newest sample, a minute old at most); the rest
        # as of the snapshot, which the page dates.
        context |= _context(queues_now(served.report, now=now)) | _freshness(served, now)
    return render(request, "moderation/operations.html", context, status=400 if error else 200)


@role_required(Role.SENIOR)
@require_GET
def operations_csv_view(request: SignedInRequest) -> HttpResponse:
    period, error = _period(request)
    if period is None:
        return HttpResponse(error, status=400, content_type="text/plain; charset=utf-8")
    report = operations_served(period=period, now=timezone.now()).report
    response = HttpResponse(operations_csv(report, reviewer_name=csv_text), content_type="text/csv")
    name = f"modqueue-operations-{period}-{report.window.end:%Y-%m-%dT%H%MZ}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
