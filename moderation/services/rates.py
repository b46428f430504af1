"""Violation rates over the rolling window (CONTRACT §6), kept current per decision.

Only final decisions count (§6 v2): standing (neither undone nor overturned) and either
violation or no violation, and not waiting for or disagreeing in a blind second review
(`Decision.objects.counted()`, services/second_review.py). One function reads them
(`counted_decisions`) and one pure function turns them into figures (`figures_of`), for
the stored figures, the thresholds and their preview alike.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import BooleanField, ExpressionWrapper, Q
from django.utils import timezone

from moderation.models import Decision, Severity, Subject, Verdict
from moderation.services.thresholds import thresholds_for


@dataclass(frozen=True)
class Figures:
    violations: int
    reviewed: int
    critical_violation: bool
    categories: list[str]
    # The counted violation decisions behind `violations`: what an action rests on.
    basis: tuple[int, ...] = ()

    @property
    def rate(self) -> float:
        return self.violations / self.reviewed if self.reviewed else 0.0


def counted_violation() -> Q:
    """The decisions counted as violations: one rule for the figures and the thresholds
    preview. A violation allowed under an active policy exception is recorded, not counted."""
    return Q(verdict=Verdict.VIOLATION, allowed_by__isnull=True)


@dataclass(frozen=True)
class Counted:
    """One final decision as the figures see it."""

    pk: int
    subject_id: int
    decided_at: datetime
    violation: bool
    categories: tuple[str, ...] = ()
    critical: bool = False


def counted_decisions(*, subject_ids: Sequence[int], since: datetime) -> dict[int, list[Counted]]:
    """The final decisions on these subjects' items made after `since`, per subject, oldest
    first: two queries however many subjects."""
    rows = list(
        # Gold and unsettled second reviews are left out by counted() (models/decisions.py).
        Decision.objects.counted()
        .filter(item__subject_id__in=subject_ids, decided_at__gt=since)
        .annotate(violation=ExpressionWrapper(counted_violation(), output_field=BooleanField()))
        .order_by("decided_at", "pk")
        .values_list("pk", "item__subject_id", "decided_at", "violation")
    )
    slugs: dict[int, set[str]] = defaultdict(set)
    critical: set[int] = set()
    violations = [pk for pk, _, _, violation in rows if violation]
    links = Decision.categories.through.objects.filter(decision_id__in=violations).values_list(
        "decision_id", "policycategory__slug", "policycategory__severity"
    )
    for decision_id, slug, severity in links:
        slugs[decision_id].add(slug)
        if severity == Severity.CRITICAL:
            critical.add(decision_id)
    by_subject: dict[int, list[Counted]] = defaultdict(list)
    for pk, subject_id, decided_at, violation in rows:
        by_subject[subject_id].append(
            Counted(
                pk=pk,
                subject_id=subject_id,
                decided_at=decided_at,
                violation=bool(violation),
                categories=tuple(sorted(slugs[pk])),
                critical=pk in critical,
            )
        )
    return by_subject


def figures_of(decisions: Iterable[Counted], *, since: datetime) -> Figures:
    """The figures over the decisions made after `since` (pure)."""
    chosen = [d for d in decisions if d.decided_at > since]
    counted = [d for d in chosen if d.violation]
    return Figures(
        violations=len(counted),
        reviewed=len(chosen),
        critical_violation=any(d.critical for d in counted),
        categories=sorted({slug for d in counted for slug in d.categories}),
        basis=tuple(d.pk for d in counted),
    )


def _window(subject: Subject, window_days: int | None) -> timedelta:
    return timedelta(days=window_days or thresholds_for(subject.organization).window_days)


def subject_recount(
    *, subject: Subject, now: datetime | None = None, window_days: int | None = None
) -> Figures:
    """Count the subject's final decisions inside the window and store the figures.

    Run when a decision lands, is undone or overturned, and when the oldest counted one
    leaves the window; pages only ever read the stored figures.
    """
    now = now or timezone.now()
    window = _window(subject, window_days)
    since = now - window
    decisions = counted_decisions(subject_ids=[subject.pk], since=since).get(subject.pk, [])
    figures = figures_of(decisions, since=since)
    oldest = decisions[0].decided_at if decisions else None
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
    start = max(since, now - _window(subject, window_days))
    decisions = counted_decisions(subject_ids=[subject.pk], since=start).get(subject.pk, [])
    return figures_of(decisions, since=start)


def rates_roll_forward(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Recount the subjects whose oldest counted decision has left the window (periodic)."""
    now = now or timezone.now()
    due = Subject.objects.select_related("organization").filter(window_expires_at__lte=now)
    count = 0
    for subject in due.order_by("window_expires_at")[:limit]:
        subject_recount(subject=subject, now=now)
        count += 1
    return count
