"""The operations dashboard's figures as CSV, one value a row (CONTRACT §8 v2 "operations";
docs/operations.md lists the figures)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from moderation.services.operations import Operations

CSV_HEADER = ("figure", "queue", "reviewer", "bucket_start", "value")


def _number(value: float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


def operations_csv(report: Operations, *, reviewer_name: Any = str) -> str:
    """The figures in long form, one value a row: `figure,queue,reviewer,bucket_start,value`
    (docs/operations.md lists the figures). An empty cell is "not applicable" or "no value"."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)

    def row(
        figure: str,
        value: float | int | None,
        *,
        queue: str = "",
        reviewer: str = "",
        bucket: datetime | None = None,
    ) -> None:
        at = "" if bucket is None else bucket.strftime("%Y-%m-%dT%H:%M:%SZ")
        writer.writerow((figure, queue, reviewer, at, _number(value)))

    row("period_start", None, bucket=report.window.start)
    row("period_end", None, bucket=report.window.end)
    # When the figures were computed: a snapshot's may be minutes old (operations_snapshot.py).
    row("computed_at", None, bucket=report.now)
    for q in report.queues:
        row("queue_target_seconds", int(q.target.total_seconds()), queue=q.queue)
        row("queue_depth_now", q.depth, queue=q.queue, bucket=q.taken_at)
        row("queue_oldest_age_seconds_now", q.oldest_age_seconds, queue=q.queue, bucket=q.taken_at)
        row("queue_overdue_now", q.overdue, queue=q.queue, bucket=q.taken_at)
    for queue, cells in report.queue_series.items():
        for bucket, cell in zip(report.buckets, cells, strict=True):
            row("queue_depth_max", cell.depth, queue=queue, bucket=bucket)
            row("queue_oldest_age_seconds_max", cell.oldest_age_seconds, queue=queue, bucket=bucket)
    for bucket, n in zip(report.buckets, report.intake, strict=True):
        row("intake", n, bucket=bucket)
    for bucket, n in zip(report.buckets, report.decisions, strict=True):
        row("decisions", n, bucket=bucket)
    for name, spread in (("to_decision", report.to_decision), ("to_action", report.to_action)):
        row(f"{name}_count", spread.count)
        row(f"{name}_median_seconds", spread.median)
        row(f"{name}_p90_seconds", spread.p90)
    for a in report.attainment:
        row("sla_decided", a.decided, queue=a.queue)
        row("sla_within_target", a.within, queue=a.queue)
        row("sla_attainment", a.share, queue=a.queue)
    for r in report.reviewers:
        name = reviewer_name(r.reviewer)
        row("reviewer_decisions", r.decisions, reviewer=name)
        row("reviewer_active_hours", r.active_hours, reviewer=name)
        row("reviewer_handling_median_seconds", r.handling.median, reviewer=name)
        row("reviewer_handling_p90_seconds", r.handling.p90, reviewer=name)
    d = report.deliveries
    row("deliveries_delivered", d.delivered)
    row("deliveries_failed", d.failed)
    row("deliveries_pending", d.pending)
    row("delivery_success_rate", d.success_rate)
    return out.getvalue()
