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


def _counted_violation() -> Q:
    # A violation allowed under an active policy exception is recorded but not counted.
    return Q(verdict=Verdict.VIOLATION, allowed_by__isnull=True)


def subject_recount(*, subject: Subject, now: datetime | None = None) -> Figures:
    """Count the subject's final decisions inside the window and store the figures.

    One aggregate over the subject's own decisions (indexed), run when a decision lands and
    when the oldest counted one leaves the window; pages only ever read the stored figures.
    """
    now = now or timezone.now()
    window = timedelta(days=thresholds_for(subject.organization).window_days)
    finals = Decision.objects.filter(
        item__subject=subject, verdict__in=FINAL_VERDICTS, decided_at__gt=now - window
    )
    counts = finals.aggregate(
        reviewed=Count("id"),
        violations=Count("id", filter=_counted_violation()),
        oldest=Min("decided_at"),
    )
    categories = sorted(
        set(
            finals.filter(_counted_violation(), categories__isnull=False).values_list(
                "categories__slug", flat=True
            )
        )
    )
    critical = finals.filter(_counted_violation(), categories__severity=Severity.CRITICAL).exists()
    subject.violations = counts["violations"]
    subject.reviewed = counts["reviewed"]
    subject.window_expires_at = counts["oldest"] + window if counts["oldest"] else None
    subject.updated_at = now
    subject.save(update_fields=["violations", "reviewed", "window_expires_at", "updated_at"])
    return Figures(
        violations=counts["violations"],
        reviewed=counts["reviewed"],
        critical_violation=critical,
        categories=categories,
    )


def rates_roll_forward(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Recount the subjects whose oldest counted decision has left the window (periodic)."""
    now = now or timezone.now()
    due = Subject.objects.select_related("organization").filter(window_expires_at__lte=now)
    count = 0
    for subject in due.order_by("window_expires_at")[:limit]:
        subject_recount(subject=subject, now=now)
        count += 1
    return count
