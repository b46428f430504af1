"""The quality report (issue 10, CONTRACT §8 v2 "quality"): how often each reviewer is right
on golden items, and how often two reviewers agree on the same item, over a period.

Read only. The figures come from a handful of flat queries (the decisions on golden items,
the answered second reviews, their categories, the seconds spent), folded here in Python:
gold scores, Jaccard overlaps and Cohen's kappa need the pairs themselves, not a SQL sum.
Kappa and its 95 % interval are statsmodels' formulas in plain Python (docs/quality.md says
how to read them); the median seconds a reviewer spent come from PostgreSQL in one query.

What counts (docs/quality.md):
- a decision counts unless its own reviewer undid it: an overturned decision was still that
  reviewer's answer, so it is scored; an overturning decision (one that replaced another) is a
  correction made in sight of the first, not a blind answer, so it is not;
- on a golden item an escalation is a wrong answer;
- a decision or a second answer belongs to the period it was given in (its `decided_at`).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from moderation.models import (
    Decision,
    GoldItem,
    PolicyCategory,
    SecondReview,
    Verdict,
    VoidReason,
)
from moderation.services.stats import SMALL_SAMPLE, Kappa, cohen_kappa, median_of_counts

DEFAULT_DAYS = 30
# The longest period a report covers (its chart has one point a week).
MAX_DAYS = 366
VERDICTS = (Verdict.VIOLATION.value, Verdict.NO_VIOLATION.value)


@dataclass(frozen=True)
class Period:
    """From `since` to `until`, both days included (UTC, as the app stores time)."""

    since: date
    until: date

    @classmethod
    def last_days(cls, days: int = DEFAULT_DAYS, *, today: date | None = None) -> Period:
        """The last `days` days, today included."""
        end = today or timezone.now().date()
        return cls(since=end - timedelta(days=days - 1), until=end)

    @property
    def start(self) -> datetime:
        return _midnight(self.since)

    @property
    def end(self) -> datetime:
        """The moment after the period: midnight at the end of `until`."""
        return _midnight(self.until + timedelta(days=1))

    def weeks(self) -> list[date]:
        """The Mondays of the weeks the period touches, oldest first."""
        monday = week_of(self.since)
        mondays = []
        while monday <= self.until:
            mondays.append(monday)
            monday += timedelta(days=7)
        return mondays


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day))


def week_of(moment: date | datetime) -> date:
    """The Monday of the week a day (or a moment, in UTC) falls in."""
    day = timezone.localtime(moment).date() if isinstance(moment, datetime) else moment
    return day - timedelta(days=day.weekday())


# --- Scoring golden decisions -------------------------------------------------------------


def gold_score(
    *, verdict: str, chosen: AbstractSet[int], expected_verdict: str, expected: AbstractSet[int]
) -> tuple[bool, float | None]:
    """(verdict right, category overlap) of one answer to a golden item. The overlap is the
    Jaccard index of the chosen and expected categories, on golden items whose answer is a
    violation only (None otherwise); two empty sets overlap fully. An escalation is wrong."""
    correct = verdict == expected_verdict
    if expected_verdict != Verdict.VIOLATION:
        return correct, None
    union = chosen | expected
    return correct, (len(chosen & expected) / len(union) if union else 1.0)


# --- The report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """`hits` of `total`, with the share (None when there is nothing to divide)."""

    hits: int
    total: int

    @property
    def share(self) -> float | None:
        return self.hits / self.total if self.total else None

    @property
    def too_few(self) -> bool:
        return self.total < SMALL_SAMPLE


@dataclass(frozen=True)
class Week:
    """One reviewer's figures for one week of the period (the chart's points)."""

    monday: date
    gold: Rate
    kappa: Kappa


@dataclass(frozen=True)
class ReviewerFigures:
    reviewer_id: int
    reviewer: str
    gold: Rate
    # Mean Jaccard overlap of categories on golden items whose answer is a violation.
    overlap: float | None
    overlap_count: int
    # Second reviews answered in the period in which this reviewer gave either answer.
    agreement: Rate
    kappa: Kappa
    adjudications_won: int
    adjudications_lost: int
    decisions: int
    median_seconds: float | None
    weeks: list[Week] = field(default_factory=list)

    @property
    def gold_decided(self) -> int:
        return self.gold.total

    @property
    def gold_correct(self) -> int:
        return self.gold.hits

    @property
    def second_reviews(self) -> int:
        return self.agreement.total

    @property
    def agreements(self) -> int:
        return self.agreement.hits


@dataclass(frozen=True)
class CategoryFigures:
    slug: str
    name: str
    # "Category chosen or not" on both sides of each pair.
    kappa: Kappa
    # Golden items whose answer names this category: the verdict right and the category chosen.
    gold: Rate


@dataclass(frozen=True)
class QualityReport:
    period: Period
    reviewers: list[ReviewerFigures]
    categories: list[CategoryFigures]
    gold: Rate
    agreement: Rate
    kappa: Kappa
    weeks: list[date]


@dataclass(frozen=True)
class _GoldAnswer:
    reviewer_id: int
    decided_at: datetime
    verdict: str
    chosen: frozenset[int]
    expected_verdict: str
    expected: frozenset[int]

    @property
    def correct(self) -> bool:
        return self.verdict == self.expected_verdict


@dataclass(frozen=True)
class _Pair:
    first_reviewer_id: int
    second_reviewer_id: int
    decided_at: datetime
    first_verdict: str
    second_verdict: str
    first_categories: frozenset[int]
    second_categories: frozenset[int]
    # The senior's verdict on a disagreement, "" when none (yet).
    adjudication_verdict: str

    def answer_of(self, reviewer_id: int) -> str:
        return self.first_verdict if reviewer_id == self.first_reviewer_id else self.second_verdict

    @property
    def agree(self) -> bool:
        return self.first_verdict == self.second_verdict


def _not_undone(prefix: str = "") -> Q:
    """A decision its reviewer did not undo (standing, or overturned by someone else)."""
    return ~Q(**{f"{prefix}void_reason": VoidReason.UNDONE})


def _categories_by(through: Any, owner: str, owners: QuerySet[Any]) -> dict[int, set[int]]:
    """{owner id: category ids} from a many-to-many's table, for the owners a subquery
    selects: one query, however many owners."""
    found: dict[int, set[int]] = defaultdict(set)
    rows = through.objects.filter(**{f"{owner}__in": owners}).values_list(
        f"{owner}_id", "policycategory_id"
    )
    for owner_id, category_id in rows:
        found[owner_id].add(category_id)
    return found


def _gold_answers(period: Period, reviewer_id: int | None) -> list[_GoldAnswer]:
    decisions = Decision.objects.filter(
        _not_undone(),
        item__gold__isnull=False,
        replaces__isnull=True,
        decided_at__gte=period.start,
        decided_at__lt=period.end,
    )
    if reviewer_id is not None:
        decisions = decisions.filter(reviewer_id=reviewer_id)
    rows = decisions.values_list(
        "id",
        "reviewer_id",
        "decided_at",
        "verdict",
        "item__gold_id",
        "item__gold__expected_verdict",
    )
    chosen = _categories_by(Decision.categories.through, "decision", decisions.values("id"))
    expected = _categories_by(
        GoldItem.expected_categories.through, "golditem", decisions.values("item__gold_id")
    )
    return [
        _GoldAnswer(
            reviewer_id=reviewer,
            decided_at=at,
            verdict=verdict,
            chosen=frozenset(chosen[pk]),
            expected_verdict=expected_verdict,
            expected=frozenset(expected[gold_id]),
        )
        for pk, reviewer, at, verdict, gold_id, expected_verdict in rows
    ]


def _pairs(period: Period, reviewer_id: int | None) -> list[_Pair]:
    reviews = SecondReview.objects.filter(
        _not_undone("first_decision__"),
        reviewer__isnull=False,
        verdict__in=VERDICTS,
        first_decision__verdict__in=VERDICTS,
        decided_at__gte=period.start,
        decided_at__lt=period.end,
    )
    if reviewer_id is not None:
        reviews = reviews.filter(
            Q(reviewer_id=reviewer_id) | Q(first_decision__reviewer_id=reviewer_id)
        )
    rows = reviews.values_list(
        "id",
        "first_decision_id",
        "first_decision__reviewer_id",
        "reviewer_id",
        "decided_at",
        "first_decision__verdict",
        "verdict",
        "adjudication__verdict",
        "adjudication__void_reason",
    )
    first_categories = _categories_by(
        Decision.categories.through, "decision", reviews.values("first_decision_id")
    )
    second_categories = _categories_by(
        SecondReview.categories.through, "secondreview", reviews.values("id")
    )
    pairs = []
    for (
        pk,
        first_id,
        first_reviewer,
        second_reviewer,
        at,
        first_verdict,
        second_verdict,
        adjudication,
        adjudication_void,
    ) in rows:
        if at is None or second_reviewer is None:  # excluded by the filter; for the types
            continue
        pairs.append(
            _Pair(
                first_reviewer_id=first_reviewer,
                second_reviewer_id=second_reviewer,
                decided_at=at,
                first_verdict=first_verdict,
                second_verdict=second_verdict,
                first_categories=frozenset(first_categories[first_id]),
                second_categories=frozenset(second_categories[pk]),
                # An adjudication its senior undid has settled nothing.
                adjudication_verdict=(
                    ""
                    if adjudication is None or adjudication_void == VoidReason.UNDONE
                    else adjudication
                ),
            )
        )
    return pairs


def _seconds(period: Period, reviewer_id: int | None) -> dict[int, tuple[int, float | None]]:
    """How many standing final decisions each reviewer made in the period, and the median
    seconds spent on them (decisions on golden items included: to the reviewer they are
    work like any other). The database counts each (reviewer, seconds) pair, a few thousand
    rows from one hashed pass over the period (not a million rows carried into Python, nor a
    sort of them); the median is read off those counts exactly as `statistics.median`
    gives it (`seconds_spent` is a whole number)."""
    decisions = Decision.objects.final().filter(
        decided_at__gte=period.start, decided_at__lt=period.end
    )
    if reviewer_id is not None:
        decisions = decisions.filter(reviewer_id=reviewer_id)
    counts: dict[int, list[tuple[int, int]]] = defaultdict(list)
    grouped = (
        decisions.order_by()
        .values_list("reviewer_id", "seconds_spent")
        .annotate(n=Count("pk"))
        .values_list("reviewer_id", "seconds_spent", "n")
    )
    for reviewer, seconds, n in grouped:
        counts[reviewer].append((seconds, n))
    return {pk: median_of_counts(found) for pk, found in counts.items()}


def _rate(answers: Iterable[_GoldAnswer]) -> Rate:
    scored = [a.correct for a in answers]
    return Rate(hits=sum(scored), total=len(scored))


def _verdict_kappa(pairs: Iterable[_Pair], reviewer_id: int | None = None) -> Kappa:
    """Kappa on the verdicts; for a reviewer, their answer against the other one's."""
    oriented = [
        (p.first_verdict, p.second_verdict)
        if reviewer_id is None or p.first_reviewer_id == reviewer_id
        else (p.second_verdict, p.first_verdict)
        for p in pairs
    ]
    return cohen_kappa(oriented, VERDICTS)


def _reviewer_figures(
    reviewer_id: int,
    name: str,
    answers: list[_GoldAnswer],
    pairs: list[_Pair],
    seconds: tuple[int, float | None],
    weeks: list[date],
) -> ReviewerFigures:
    overlaps = [
        overlap
        for a in answers
        if (
            overlap := gold_score(
                verdict=a.verdict,
                chosen=a.chosen,
                expected_verdict=a.expected_verdict,
                expected=a.expected,
            )[1]
        )
        is not None
    ]
    adjudicated = [p for p in pairs if not p.agree and p.adjudication_verdict]
    won = sum(p.answer_of(reviewer_id) == p.adjudication_verdict for p in adjudicated)
    return ReviewerFigures(
        reviewer_id=reviewer_id,
        reviewer=name,
        gold=_rate(answers),
        overlap=statistics.fmean(overlaps) if overlaps else None,
        overlap_count=len(overlaps),
        agreement=Rate(hits=sum(p.agree for p in pairs), total=len(pairs)),
        kappa=_verdict_kappa(pairs, reviewer_id),
        adjudications_won=won,
        adjudications_lost=len(adjudicated) - won,
        decisions=seconds[0],
        median_seconds=seconds[1],
        weeks=[
            Week(
                monday=monday,
                gold=_rate(a for a in answers if week_of(a.decided_at) == monday),
                kappa=_verdict_kappa(
                    [p for p in pairs if week_of(p.decided_at) == monday], reviewer_id
                ),
            )
            for monday in weeks
        ],
    )


def _category_figures(answers: list[_GoldAnswer], pairs: list[_Pair]) -> list[CategoryFigures]:
    seen: set[int] = set()
    for a in answers:
        seen |= a.chosen | a.expected
    for p in pairs:
        seen |= p.first_categories | p.second_categories
    figures = []
    for pk, slug, name in (
        PolicyCategory.objects.filter(pk__in=seen)
        .order_by("name")
        .values_list("pk", "slug", "name")
    ):
        expecting = [
            a for a in answers if a.expected_verdict == Verdict.VIOLATION and pk in a.expected
        ]
        figures.append(
            CategoryFigures(
                slug=slug,
                name=name,
                kappa=cohen_kappa(
                    [(pk in p.first_categories, pk in p.second_categories) for p in pairs],
                    (True, False),
                ),
                gold=Rate(
                    hits=sum(a.correct and pk in a.chosen for a in expecting),
                    total=len(expecting),
                ),
            )
        )
    return figures


def quality_report(*, period: Period, reviewer_id: int | None = None) -> QualityReport:
    """The report over `period`: everyone's figures, or, given `reviewer_id`, only that
    reviewer's (their golden items, the pairs they gave an answer in, their decisions)."""
    answers = _gold_answers(period, reviewer_id)
    pairs = _pairs(period, reviewer_id)
    seconds = _seconds(period, reviewer_id)
    gold_by: dict[int, list[_GoldAnswer]] = defaultdict(list)
    for a in answers:
        gold_by[a.reviewer_id].append(a)
    pairs_by: dict[int, list[_Pair]] = defaultdict(list)
    for p in pairs:
        pairs_by[p.first_reviewer_id].append(p)
        pairs_by[p.second_reviewer_id].append(p)
    ids = set(gold_by) | set(pairs_by) | set(seconds)
    if reviewer_id is not None:
        ids = {reviewer_id}
    names = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))
    weeks = period.weeks()
    reviewers = sorted(
        (
            _reviewer_figures(
                pk, names[pk], gold_by[pk], pairs_by[pk], seconds.get(pk, (0, None)), weeks
            )
            for pk in ids
            if pk in names
        ),
        key=lambda r: r.reviewer.casefold(),
    )
    return QualityReport(
        period=period,
        reviewers=reviewers,
        categories=_category_figures(answers, pairs),
        gold=_rate(answers),
        agreement=Rate(hits=sum(p.agree for p in pairs), total=len(pairs)),
        kappa=_verdict_kappa(pairs),
        weeks=weeks,
    )
