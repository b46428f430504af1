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

from django.db import transaction
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


def _counts_as_violation(decision: Decision) -> bool:
    return decision.verdict == Verdict.VIOLATION and decision.allowed_by_id is None


def figures_move(
    *,
    subject: Subject,
    now: datetime,
    window_days: int,
    started: Decision | None = None,
    stopped: Decision | None = None,
) -> None:
    """Move the stored figures by one decision that starts counting and/or one that stops
    (an undo, an overturn, an adjudication), in one UPDATE however long the window: O(1)
    instead of `subject_recount`'s O(window). The caller holds the subject's row lock, so
    the arithmetic on it is the database's own.

    `started` must be a counted final decision (CONTRACT §6 v2); it is added when it lies
    inside the window (a second review agreeing days later may find it outside). `stopped`
    must have been counted until now; it is taken off only while it lies inside the window:
    one already past the window's edge was taken off by the roll-forward's recount (or will
    be, at the recount its `window_expires_at` has already made due). The window's edge
    moves to the oldest counted decision's expiry, or earlier: a decision taken off leaves
    it where it was, which only makes the roll-forward recount sooner than it must.
    """
    window = timedelta(days=window_days)
    since = now - window
    if started is not None and started.decided_at > since:
        subject.reviewed += 1
        subject.violations += _counts_as_violation(started)
        expires = started.decided_at + window
        if subject.window_expires_at is None or expires < subject.window_expires_at:
            subject.window_expires_at = expires
    if stopped is not None and stopped.decided_at > since:
        subject.reviewed -= 1
        subject.violations -= _counts_as_violation(stopped)
        if subject.reviewed == 0:
            subject.window_expires_at = None
    subject.updated_at = now
    subject.save(update_fields=["violations", "reviewed", "window_expires_at", "updated_at"])


def critical_violation_in(*, subject: Subject, since: datetime) -> bool:
    """Whether a counted violation in a critical category was made after `since`: one
    EXISTS over the subject's critical violations (few), by the decision-category link."""
    return (
        Decision.objects.counted()
        .filter(
            counted_violation(),
            item__subject_id=subject.pk,
            decided_at__gt=since,
            categories__severity=Severity.CRITICAL,
        )
        .exists()
    )


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
    """Recount the subjects whose oldest counted decision has left the window (periodic).

    Each under its row lock, in its own transaction: a decision moving the same figures
    (`figures_move`) holds that lock until it commits, so the recount, read after it,
    counts that decision too and never writes over its step with an older count."""
    now = now or timezone.now()
    due = list(
        Subject.objects.filter(window_expires_at__lte=now)
        .order_by("window_expires_at")
        .values_list("pk", flat=True)[:limit]
    )
    count = 0
    for pk in due:
        with transaction.atomic():
            subject = (
                Subject.objects.select_for_update(of=("self",))
                .select_related("organization")
                .filter(pk=pk, window_expires_at__lte=now)
                .first()
            )
            if subject is not None:
                subject_recount(subject=subject, now=now)
                count += 1
    return count
