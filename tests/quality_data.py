"""Decisions on golden items and blind second reviews for the quality report's tests.

Rows are written as the review flow leaves them (a decision, undone or overturned later; a
second review answered, agreed or not, adjudicated), with the times and seconds the test
chooses, so each figure can be worked out by hand. The flows that write them are tested in
their own modules (tests/services/test_gold_serving.py, test_undo.py, test_overturn.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from moderation.models import (
    GOLD_SUBJECT_HASH,
    Decision,
    FlaggedItem,
    GoldItem,
    ItemState,
    SecondReview,
    SecondReviewState,
    Subject,
    Verdict,
    VoidReason,
)
from moderation.services.quality_report import Period
from tests.factories import (
    FlaggedItemFactory,
    GoldItemFactory,
    OrganizationFactory,
    categories,
)

V = Verdict.VIOLATION
N = Verdict.NO_VIOLATION
E = Verdict.ESCALATE


def served(gold: GoldItem) -> FlaggedItem:
    """One serving of the golden item, as a claim makes it (under the reserved gold subject)."""
    subject, _ = Subject.objects.get_or_create(
        organization=gold.organization, user_id_hash=GOLD_SUBJECT_HASH
    )
    return FlaggedItemFactory(
        subject=subject, organization=gold.organization, gold=gold, state=ItemState.DECIDED
    )


def answer(
    item: FlaggedItem,
    reviewer: Any,
    verdict: str,
    *slugs: str,
    at: datetime,
    seconds: int = 30,
    undone: bool = False,
) -> Decision:
    """The reviewer's decision on the item at `at`, `seconds` after the claim; `undone`: taken
    back by its reviewer a minute later."""
    decision = Decision.objects.create(
        item=item,
        reviewer=reviewer,
        verdict=verdict,
        claimed_at=at - timedelta(seconds=seconds),
        decided_at=at,
        seconds_spent=seconds,
        **(
            {
                "voided_at": at + timedelta(minutes=1),
                "voided_by": reviewer,
                "void_reason": VoidReason.UNDONE,
            }
            if undone
            else {}
        ),
    )
    decision.categories.set(categories(*slugs))
    return decision


def overturn(decision: Decision, by: Any, verdict: str, *slugs: str, at: datetime) -> Decision:
    """A senior replaces the decision with a new one."""
    Decision.objects.filter(pk=decision.pk).update(
        voided_at=at, voided_by=by, void_reason=VoidReason.OVERTURNED
    )
    new = answer(decision.item, by, verdict, *slugs, at=at, seconds=45)
    Decision.objects.filter(pk=decision.pk).update(replaced_by=new)
    return new


def gold_answer(
    gold: GoldItem, reviewer: Any, verdict: str, *slugs: str, **options: Any
) -> Decision:
    return answer(served(gold), reviewer, verdict, *slugs, **options)


def pair(
    first: tuple[Any, str, tuple[str, ...]],
    second: tuple[Any, str, tuple[str, ...]],
    *,
    at: datetime,
    adjudication: tuple[Any, str] | None = None,
    first_undone: bool = False,
    seconds: int = 40,
) -> SecondReview:
    """A real item decided by `first` (reviewer, verdict, categories) and answered blind by
    `second` at `at`; a disagreement may be adjudicated by (senior, verdict), whose decision
    replaces the first one, as the item's final decision."""
    (first_by, first_verdict, first_slugs), (second_by, second_verdict, second_slugs) = (
        first,
        second,
    )
    item = FlaggedItemFactory(state=ItemState.DECIDED)
    decision = answer(
        item,
        first_by,
        first_verdict,
        *first_slugs,
        at=at - timedelta(hours=1),
        seconds=seconds,
        undone=first_undone,
    )
    agreed = first_verdict == second_verdict
    review = SecondReview.objects.create(
        item=item,
        first_decision=decision,
        state=SecondReviewState.AGREED if agreed else SecondReviewState.DISAGREED,
        reviewer=second_by,
        verdict=second_verdict,
        claimed_at=at - timedelta(seconds=seconds),
        decided_at=at,
        seconds_spent=seconds,
        created_at=at - timedelta(hours=1),
    )
    review.categories.set(categories(*second_slugs))
    if adjudication is not None:
        senior, verdict = adjudication
        slugs = first_slugs if verdict == first_verdict else second_slugs
        settled = overturn(decision, senior, verdict, *slugs, at=at + timedelta(hours=1))
        review.adjudication = settled
        review.state = SecondReviewState.ADJUDICATED
        review.save(update_fields=["adjudication", "state"])
    return review


def pending_review(first_by: Any, *, at: datetime) -> SecondReview:
    """A decision sampled for a second review that nobody has answered yet."""
    item = FlaggedItemFactory(state=ItemState.DECIDED)
    decision = answer(item, first_by, V, "violence", at=at)
    return SecondReview.objects.create(item=item, first_decision=decision, created_at=at)


# --- The fixed data set: figures worked out by hand in tests/services/test_quality_report.py


# Four whole weeks, Monday 2 March to Sunday 29 March 2026.
PERIOD = Period(since=date(2026, 3, 2), until=date(2026, 3, 29))


def day(n: int, hour: int = 12) -> datetime:
    """Noon (UTC) on the n-th day of March 2026."""
    return datetime(2026, 3, n, hour, tzinfo=UTC)


@dataclass
class Golds:
    violence: GoldItem  # a violation of violence
    abuse: GoldItem  # a violation of harassment and hate
    calm: GoldItem  # no violation


def fixed_golds() -> Golds:
    acme = OrganizationFactory(slug="acme", name="Acme AI")
    return Golds(
        violence=GoldItemFactory(organization=acme, expected_categories=["violence"]),
        abuse=GoldItemFactory(organization=acme, expected_categories=["harassment", "hate"]),
        calm=GoldItemFactory(organization=acme, expected_verdict=N),
    )


def fixed_data(rita: Any, vic: Any, sam: Any) -> None:
    """rita and vic, reviewers, and sam, a senior:

    golden items (rita: 5 count, 3 right; vic: 3 count, 3 right), and 12 answered pairs
    (rita first and vic second unless said otherwise), each row below commented."""
    g = fixed_golds()
    # rita on gold: right ×3, wrong ×2 (a no on a violation, an escalation); an undone answer
    # and one outside the period do not count.
    gold_answer(g.violence, rita, V, "violence", at=day(3), seconds=10)  # right, overlap 1
    gold_answer(g.abuse, rita, V, "harassment", at=day(4), seconds=20)  # right, overlap 1/2
    gold_answer(g.calm, rita, N, at=day(10), seconds=30)  # right
    gold_answer(g.violence, rita, N, at=day(11), seconds=40)  # wrong, overlap 0
    gold_answer(g.abuse, rita, E, at=day(12), seconds=50)  # wrong, overlap 0
    gold_answer(g.calm, rita, V, "hate", at=day(12), undone=True)  # undone: not counted
    gold_answer(g.violence, rita, V, "violence", at=day(1))  # before the period
    gold_answer(g.violence, rita, N, at=datetime(2026, 3, 30, 0, 0, tzinfo=UTC))  # after it
    # vic on gold: right ×3; the third overturned by sam (vic's answer still counts, sam's
    # overturning decision is not a blind answer and does not).
    gold_answer(g.violence, vic, V, "violence", "weapons", at=day(5))  # right, overlap 1/2
    gold_answer(g.calm, vic, N, at=day(6))  # right
    third = gold_answer(g.abuse, vic, V, "harassment", "hate", at=day(17))  # right, overlap 1
    overturn(third, sam, N, at=day(18))

    # Agreements: violation ×4 (categories differ in two), no violation ×3.
    pair((rita, V, ("violence",)), (vic, V, ("violence",)), at=day(3))
    pair((rita, V, ("violence",)), (vic, V, ("violence",)), at=day(10))
    pair((rita, V, ("violence",)), (vic, V, ("harassment",)), at=day(11))
    pair((rita, V, ("harassment",)), (vic, V, ("harassment",)), at=day(17))
    for n in (4, 12, 18):
        pair((rita, N, ()), (vic, N, ()), at=day(n))
    # Disagreements: rita violation, vic not ×2, settled by sam once each way; rita not, vic
    # violation, not settled yet.
    pair((rita, V, ("violence",)), (vic, N, ()), at=day(5), adjudication=(sam, V))
    pair((rita, V, ("violence",)), (vic, N, ()), at=day(19), adjudication=(sam, N))
    pair((rita, N, ()), (vic, V, ("violence",)), at=day(24))
    # vic first: with rita second (both no), with sam second (both hate).
    pair((vic, N, ()), (rita, N, ()), at=day(25))
    pair((vic, V, ("hate",)), (sam, V, ("hate",)), at=day(26))
    # Not pairs: a first decision its reviewer undid, an unanswered review, one out of period.
    pair((rita, V, ("violence",)), (vic, N, ()), at=day(20), first_undone=True)
    pending_review(rita, at=day(21))
    pair((rita, V, ("violence",)), (vic, N, ()), at=day(1))


# --- A richer data set for the pages' screenshots and the accessibility checks -----------


def _call(
    rng: random.Random, who: Any, truth: bool, slug: str, skill: float
) -> tuple[Any, str, tuple[str, ...]]:
    """A reviewer's answer on an item whose true answer is `truth` (a violation of `slug`)."""
    said = truth if rng.random() < skill else not truth
    chosen = (slug if rng.random() < skill else rng.choice(DEMO_SLUGS),)
    return (who, V, chosen) if said else (who, N, ())


DEMO_SLUGS = ("violence", "harassment", "hate", "fraud", "self-harm")


def demo_data(reviewers: list[Any], senior: Any, *, today: date, seed: int = 7) -> None:
    """Eight weeks of golden answers and second reviews up to `today` for each reviewer, each
    with their own accuracy and their own tendency to call a violation."""
    rng = random.Random(seed)
    acme = OrganizationFactory(slug="acme", name="Acme AI")
    golds = [
        GoldItemFactory(organization=acme, expected_categories=["violence"]),
        GoldItemFactory(organization=acme, expected_categories=["harassment"]),
        GoldItemFactory(organization=acme, expected_categories=["hate", "harassment"]),
        GoldItemFactory(organization=acme, expected_categories=["fraud"]),
        GoldItemFactory(organization=acme, expected_verdict=N),
        GoldItemFactory(organization=acme, expected_verdict=N),
    ]
    skill = {r.pk: 0.95 - 0.1 * n for n, r in enumerate(reviewers)}
    slugs = DEMO_SLUGS

    def moment(days_ago: int) -> datetime:
        d = today - timedelta(days=days_ago)
        return datetime(d.year, d.month, d.day, rng.randint(8, 17), rng.randint(0, 59), tzinfo=UTC)

    for reviewer in reviewers:
        for days_ago in range(0, 56):
            if rng.random() < 0.55:
                gold = rng.choice(golds)
                expected = [c.slug for c in gold.expected_categories.all()]
                right = rng.random() < skill[reviewer.pk] - (0.1 if days_ago > 28 else 0)
                if right:
                    verdict = gold.expected_verdict
                    chosen = expected if rng.random() < 0.8 else expected[:1] + ["violence"]
                else:
                    verdict = N if gold.expected_verdict == V else V
                    chosen = [] if verdict == N else [rng.choice(slugs)]
                gold_answer(
                    gold,
                    reviewer,
                    verdict,
                    *chosen,
                    at=moment(days_ago),
                    seconds=rng.randint(12, 140),
                )
    for days_ago in range(0, 56):
        for _ in range(3):
            first, second = rng.sample(reviewers, 2)
            truth = rng.random() < 0.45
            slug = rng.choice(slugs[:4])

            a, b = (_call(rng, who, truth, slug, skill[who.pk]) for who in (first, second))
            adjudication = (
                (senior, V if truth else N) if a[1] != b[1] and rng.random() < 0.7 else None
            )
            pair(a, b, at=moment(days_ago), adjudication=adjudication, seconds=rng.randint(15, 120))
