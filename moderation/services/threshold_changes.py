"""New thresholds: how many users they would change (Preview), then applying them (Save).

Both read the same candidates and the same situations and run the same plan
(services/enforcement_plan.py) as every decision does, so Preview announces exactly what
Save then changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from moderation.models import Decision, Organization, Subject, ThresholdChange
from moderation.services.enforcement import STATUS_OF_ACTION, enforcement_evaluate
from moderation.services.enforcement_plan import enforcement_plan, situations_read
from moderation.services.rates import counted_violation, subject_recount
from moderation.services.thresholds import Rules, thresholds_for


def _scope_filter(organization: Organization | None) -> dict[str, object]:
    if organization is not None:
        return {"organization": organization}
    return {"organization__thresholds__isnull": True}


def _candidates(
    organization: Organization | None, *, rules: Rules, now: datetime
) -> QuerySet[Subject]:
    """The users in scope the rules could act on: those with a counted violation in the
    window. Without one, the thresholds call for nothing (so nobody else is read)."""
    violated = Decision.objects.counted().filter(
        counted_violation(),
        item__subject=OuterRef("pk"),
        decided_at__gt=now - timedelta(days=rules.window_days),
    )
    return (
        Subject.objects.filter(**_scope_filter(organization))
        .filter(Exists(violated))
        .order_by("pk")
    )


def _chunks(subjects: QuerySet[Subject], size: int = 500) -> Iterator[list[Subject]]:
    chunk: list[Subject] = []
    for subject in subjects.iterator(chunk_size=size):
        chunk.append(subject)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def thresholds_preview(
    *, organization: Organization | None, rules: Rules, now: datetime | None = None
) -> dict[str, int]:
    """How many users would change status (or get a removal proposal) if `rules` applied
    now: the same situations and the same plan as `thresholds_apply`, read, not written."""
    now = now or timezone.now()
    counts = {"warned": 0, "restricted": 0, "proposals": 0, "total": 0}
    for chunk in _chunks(_candidates(organization, rules=rules, now=now)):
        for situation in situations_read(chunk, rules=rules, now=now).values():
            plan = enforcement_plan(situation=situation, rules=rules)
            if plan.take is not None:
                counts[STATUS_OF_ACTION[plan.take].value] += 1
            counts["proposals"] += plan.propose
            counts["total"] += plan.changes
    return counts


def thresholds_apply(*, organization: Organization | None) -> int:
    """After new thresholds are saved: re-evaluate every user in scope they could act on;
    returns how many got a new status or a removal proposal."""
    rules = Rules.of(thresholds_for(organization))
    now = timezone.now()
    latest = ThresholdChange.objects.filter(organization=organization).order_by("-pk").first()
    if latest is None or latest.before.get("window_days") != latest.after.get("window_days"):
        # Each decision moves the stored figures by itself over the window it was made
        # under (services/rates.py `figures_move`): a new window recounts everyone in scope
        # who has figures, or counted decisions inside it.
        counted = Decision.objects.counted().filter(
            item__subject=OuterRef("pk"),
            decided_at__gt=now - timedelta(days=rules.window_days),
        )
        in_scope = Subject.objects.filter(**_scope_filter(organization)).filter(
            Q(reviewed__gt=0) | Q(window_expires_at__isnull=False) | Exists(counted)
        )
        for subject in in_scope.select_related("organization").order_by("pk").iterator():
            subject_recount(subject=subject, now=now, window_days=rules.window_days)
    ids = list(_candidates(organization, rules=rules, now=now).values_list("pk", flat=True))
    changed = 0
    for subject in Subject.objects.filter(pk__in=ids).order_by("pk").iterator():
        if enforcement_evaluate(subject=subject, rules=rules):
            changed += 1
    return changed
