"""Violation rates over the rolling window (CONTRACT §6), kept current per decision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q
from django.utils import timezone

from moderation.models import FINAL_VERDICTS, Decision, Severity, Subject, Verdict
from moderation.services.thresholds import thresholds_for


@dataclass(frozen=True)
class Figures:
    violations: int
    reviewed: int
    critical_violation: bool
    categories: list[str]

    @property
    def rate(self) -> float:
        return self.violations / self.reviewed if self.reviewed else 0.0


def counted_violation() -> Q:
    """The decisions counted as violations: one rule for the figures and the thresholds
    preview. A violation allowed under an active policy exception is recorded, not counted."""
    return Q(verdict=Verdict.VIOLATION, allowed_by__isnull=True)


def _figures(subject: Subject, *, since: datetime) -> tuple[Figures, datetime | None]:
    """The subject's figures over the final decisions made after `since`, and the oldest."""
    finals = Decision.objects.filter(
        item__subject=subject, verdict__in=FINAL_VERDICTS, decided_at__gt=since
    )
    counts = finals.aggregate(
        reviewed=Count("id"),
        violations=Count("id", filter=counted_violation()),
        oldest=Min("decided_at"),
    )
    categories = sorted(
        set(
            finals.filter(counted_violation(), categories__isnull=False).values_list(
                "categories__slug", flat=True
            )
        )
    )
    critical = finals.filter(counted_violation(), categories__severity=Severity.CRITICAL).exists()
    figures = Figures(
        violations=counts["violations"],
        reviewed=counts["reviewed"],
        critical_violation=critical,
        categories=categories,
    )
    return figures, counts["oldest"]


def subject_recount(
    *, subject: Subject, now: datetime | None = None, window_days: int | None = None
) -> Figures:
    """Count the subject's final decisions inside the window and store the figures.

    One aggregate over the subject's own decisions (indexed), run when a decision lands and
    when the oldest counted one leaves the window; pages only ever read the stored figures.
    """
    now = now or timezone.now()
    window = timedelta(days=window_days or thresholds_for(subject.organization).window_days)
    figures, oldest = _figures(subject, since=now - window)
    subject.violations = figures.violations
    subject.reviewed = figures.reviewed
    subject.window_expires_at = oldest + window if oldest else None
    subject.updated_at = now
    subject.save(update_fields=["violations", "reviewed", "window_expires_at", "updated_at"])
    return figures


def figures_since(
    *,
    subject: Subject,
    since: datetime,
    now: datetime | None = None,
    window_days: int | None = None,
) -> Figures:
    """The figures over the window, counting only decisions made after `since` (a fresh start,
    such as a reinstatement); nothing is stored."""
    now = now or timezone.now()
    window = timedelta(days=window_days or thresholds_for(subject.organization).window_days)
    figures, _ = _figures(subject, since=max(since, now - window))
    return figures


def rates_roll_forward(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Recount the subjects whose oldest counted decision has left the window (periodic)."""
    now = now or timezone.now()
    due = Subject.objects.select_related("organization").filter(window_expires_at__lte=now)
    count = 0
    for subject in due.order_by("window_expires_at")[:limit]:
        subject_recount(subject=subject, now=now)
        count += 1
    return count
