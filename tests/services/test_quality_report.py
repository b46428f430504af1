"""The quality report's figures (issue 10): gold accuracy, category overlap, agreement, Cohen's
kappa with its interval, adjudications, seconds per decision, over a period.

The fixed data set (tests/quality_data.py) is small enough to count by hand: each expected
figure below is worked out from its rows, not read back from the code."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.inter_rater import cohens_kappa

from accounts.roles import Role
from moderation.models import Decision
from moderation.services.gold_serving import gold_result
from moderation.services.quality_report import (
    Period,
    QualityReport,
    ReviewerFigures,
    gold_score,
    quality_report,
)
from moderation.services.quality_report_csv import CSV_HEADER, quality_report_csv
from moderation.services.stats import Kappa, cohen_kappa
from tests.factories import GoldItemFactory, UserFactory
from tests.quality_data import (
    PERIOD,
    E,
    N,
    V,
    answer,
    day,
    fixed_data,
    gold_answer,
    overturn,
    pair,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(db: None) -> tuple[Any, Any, Any]:
    return (
        UserFactory(username="rita", role=Role.REVIEWER),
        UserFactory(username="vic", role=Role.REVIEWER),
        UserFactory(username="sam", role=Role.SENIOR),
    )


@pytest.fixture
def report(people: tuple[Any, Any, Any]) -> QualityReport:
    fixed_data(*people)
    return quality_report(period=PERIOD)


def of(report: QualityReport, username: str) -> ReviewerFigures:
    (figures,) = [r for r in report.reviewers if r.reviewer == username]
    return figures


def kappa_by_hand(table: list[list[int]]) -> float:
    """kappa = (po − pe) / (1 − pe) of a 2×2 table [[a, b], [c, d]] (rows: first answer)."""
    (a, b), (c, d) = table
    n = a + b + c + d
    po = (a + d) / n
    pe = ((a + b) * (a + c) + (c + d) * (b + d)) / n**2
    return (po - pe) / (1 - pe)


def statsmodels_interval(table: list[list[int]]) -> tuple[float, float]:
    result = cohens_kappa(np.array(table))
    return max(-1.0, float(result.kappa_low)), min(1.0, float(result.kappa_upp))


# --- Gold ---------------------------------------------------------------------------------


def test_it_counts_each_reviewers_golden_answers_and_the_right_ones(report: QualityReport):
    rita, vic = of(report, "rita"), of(report, "vic")
    # rita: 3 right, a no on a violation and an escalation wrong; undone and outside not counted.
    assert (rita.gold_decided, rita.gold_correct, rita.gold.share) == (5, 3, 0.6)
    # vic: 3 right, the third overturned by sam later (still vic's answer).
    assert (vic.gold_decided, vic.gold_correct, vic.gold.share) == (3, 3, 1.0)


def test_it_never_scores_an_overturning_decision_as_a_golden_answer(report: QualityReport):
    sam = of(report, "sam")
    assert (sam.gold_decided, sam.gold.share) == (0, None)


def test_it_averages_the_category_overlap_on_golden_violations(report: QualityReport):
    # rita: {violence}=1, {harassment} of {harassment, hate}=1/2, a no and an escalation 0.
    assert of(report, "rita").overlap == pytest.approx((1 + 1 / 2 + 0 + 0) / 4)
    assert of(report, "rita").overlap_count == 4
    # vic: {violence, weapons} against {violence}=1/2, {harassment, hate} exactly=1.
    assert of(report, "vic").overlap == pytest.approx(3 / 4)
    assert of(report, "sam").overlap is None


def test_it_totals_gold_over_everyone(report: QualityReport):
    assert (report.gold.hits, report.gold.total) == (6, 8)


def test_it_scores_an_answer_as_the_serving_helper_does(people: tuple[Any, Any, Any]):
    rita = people[0]
    abuse = GoldItemFactory(expected_categories=["harassment", "hate"])
    calm = GoldItemFactory(expected_verdict=N)
    for gold, verdict, slugs in (
        (abuse, V, ("harassment",)),
        (abuse, V, ("harassment", "hate", "violence")),
        (abuse, N, ()),
        (abuse, E, ()),
        (calm, N, ()),
        (calm, V, ("fraud",)),
    ):
        decision = gold_answer(gold, rita, verdict, *slugs, at=day(3))
        result = gold_result(Decision.objects.get(pk=decision.pk))
        assert result is not None
        correct, overlap = gold_score(
            verdict=verdict,
            chosen={c.pk for c in decision.categories.all()},
            expected_verdict=gold.expected_verdict,
            expected={c.pk for c in gold.expected_categories.all()},
        )
        assert correct is result.verdict_correct
        if gold.expected_verdict == V:
            assert overlap == pytest.approx(result.category_overlap)
        else:
            assert overlap is None


# --- Second reviews: agreement, kappa, adjudications ----------------------------------------


def test_it_counts_second_reviews_and_agreements_for_both_reviewers(report: QualityReport):
    rita, vic, sam = of(report, "rita"), of(report, "vic"), of(report, "sam")
    # 12 answered pairs in the period: rita is in 11, vic in all 12, sam (second once) in 1.
    assert (rita.second_reviews, rita.agreements) == (11, 8)
    assert (vic.second_reviews, vic.agreements) == (12, 9)
    assert (sam.second_reviews, sam.agreements) == (1, 1)
    assert (report.agreement.hits, report.agreement.total) == (9, 12)


def test_it_computes_overall_kappa_on_the_verdicts(report: QualityReport):
    # first × second: violation/violation 5, violation/no 2, no/violation 1, no/no 4.
    table = [[5, 2], [1, 4]]
    assert report.kappa.pairs == 12
    assert report.kappa.value == pytest.approx(kappa_by_hand(table))
    assert report.kappa.value == pytest.approx(0.5)
    assert (report.kappa.low, report.kappa.high) == pytest.approx(statsmodels_interval(table))
    assert report.kappa.too_few


def test_it_computes_each_reviewers_kappa_from_their_own_pairs(report: QualityReport):
    # rita's answer × the other's, on her 11 pairs.
    rita_table = [[4, 2], [1, 4]]
    rita = of(report, "rita").kappa
    assert rita.pairs == 11
    assert rita.value == pytest.approx(kappa_by_hand(rita_table))
    assert rita.value == pytest.approx(28 / 61)
    assert (rita.low, rita.high) == pytest.approx(statsmodels_interval(rita_table))
    vic_table = [[5, 1], [2, 4]]
    assert of(report, "vic").kappa.value == pytest.approx(kappa_by_hand(vic_table))
    # One pair is not enough to judge.
    assert of(report, "sam").kappa == Kappa(pairs=1)


def test_it_computes_kappa_per_category_on_chosen_or_not(report: QualityReport):
    by_slug = {c.slug: c for c in report.categories}
    assert list(by_slug) == ["harassment", "hate", "violence", "weapons"]
    # violence chosen (first, second): yes/yes 2, yes/no 3, no/yes 1, no/no 6.
    violence = [[2, 3], [1, 6]]
    assert by_slug["violence"].kappa.value == pytest.approx(kappa_by_hand(violence))
    assert by_slug["violence"].kappa.value == pytest.approx(3 / 11)
    assert (by_slug["violence"].kappa.low, by_slug["violence"].kappa.high) == pytest.approx(
        statsmodels_interval(violence)
    )
    assert by_slug["harassment"].kappa.value == pytest.approx(kappa_by_hand([[1, 0], [1, 10]]))
    assert by_slug["hate"].kappa.value == pytest.approx(1.0)
    # Chosen in no pair at all (only on a golden item): no kappa, not a NaN.
    assert by_slug["weapons"].kappa == Kappa(pairs=12)


def test_it_scores_gold_per_category_by_the_category_being_chosen(report: QualityReport):
    by_slug = {c.slug: c for c in report.categories}
    # violence: rita right, rita no, vic right. harassment: rita right, escalation, vic right.
    # hate: rita left it out, escalation, vic chose it. weapons: no golden item expects it.
    assert (by_slug["violence"].gold.hits, by_slug["violence"].gold.total) == (2, 3)
    assert (by_slug["harassment"].gold.hits, by_slug["harassment"].gold.total) == (2, 3)
    assert (by_slug["hate"].gold.hits, by_slug["hate"].gold.total) == (1, 3)
    assert by_slug["weapons"].gold.share is None


def test_it_counts_adjudications_won_and_lost(report: QualityReport):
    # Two disagreements settled by sam, one each way; a third not settled yet.
    assert (of(report, "rita").adjudications_won, of(report, "rita").adjudications_lost) == (1, 1)
    assert (of(report, "vic").adjudications_won, of(report, "vic").adjudications_lost) == (1, 1)
    assert (of(report, "sam").adjudications_won, of(report, "sam").adjudications_lost) == (0, 0)


def test_it_leaves_out_pairs_whose_first_decision_was_undone_or_not_answered(
    people: tuple[Any, Any, Any],
):
    rita, vic, _ = people
    pair((rita, V, ("violence",)), (vic, N, ()), at=day(3), first_undone=True)
    report = quality_report(period=PERIOD)
    assert report.agreement.total == 0
    assert report.kappa == Kappa(pairs=0)


def test_it_ignores_an_adjudication_its_senior_undid(people: tuple[Any, Any, Any]):
    rita, vic, sam = people
    review = pair((rita, V, ("violence",)), (vic, N, ()), at=day(3), adjudication=(sam, V))
    assert review.adjudication is not None
    Decision.objects.filter(pk=review.adjudication.pk).update(
        voided_at=day(4), voided_by=sam, void_reason="undone"
    )
    rita_figures = of(quality_report(period=PERIOD), "rita")
    assert (rita_figures.adjudications_won, rita_figures.adjudications_lost) == (0, 0)


# --- Seconds ------------------------------------------------------------------------------


def test_it_takes_the_median_seconds_of_final_decisions_only(people: tuple[Any, Any, Any]):
    rita, _, sam = people
    for seconds in (10, 20, 90, 200):
        answer(_real_item(), rita, N, at=day(3), seconds=seconds)
    answer(_real_item(), rita, V, "fraud", at=day(3), seconds=900, undone=True)
    answer(_real_item(), rita, E, at=day(3), seconds=800)
    answer(_real_item(), rita, N, at=day(1), seconds=700)
    overturned = answer(_real_item(), rita, N, at=day(4), seconds=600)
    overturn(overturned, sam, V, "fraud", at=day(5))
    rita_figures = of(quality_report(period=PERIOD), "rita")
    assert rita_figures.decisions == 4
    assert rita_figures.median_seconds == (20 + 90) / 2


def test_it_reports_the_seconds_of_the_fixed_data_set(report: QualityReport):
    # rita: golden 10, 20, 30, 40, her 8 standing first decisions 40 each and one pending
    # second review's 30; vic: golden 30, 30 and two first decisions of 40; sam: 3 × 45.
    assert (of(report, "rita").decisions, of(report, "rita").median_seconds) == (13, 40)
    assert (of(report, "vic").decisions, of(report, "vic").median_seconds) == (4, 35)
    assert (of(report, "sam").decisions, of(report, "sam").median_seconds) == (3, 45)


def _real_item() -> Any:
    from tests.factories import FlaggedItemFactory

    return FlaggedItemFactory(state="decided")


# --- The period -----------------------------------------------------------------------------


def test_it_defaults_to_the_last_thirty_days_today_included():
    period = Period.last_days(today=date(2026, 3, 31))
    assert (period.since, period.until) == (date(2026, 3, 2), date(2026, 3, 31))
    assert period.start == datetime(2026, 3, 2, tzinfo=UTC)
    assert period.end == datetime(2026, 4, 1, tzinfo=UTC)


def test_it_counts_only_what_was_decided_within_the_period(people: tuple[Any, Any, Any]):
    rita, vic, _ = people
    gold = GoldItemFactory()
    gold_answer(gold, rita, V, "violence", at=datetime(2026, 3, 1, 23, 59, tzinfo=UTC))
    gold_answer(gold, rita, V, "violence", at=datetime(2026, 3, 2, 0, 0, tzinfo=UTC))
    gold_answer(gold, rita, N, at=datetime(2026, 3, 29, 23, 59, tzinfo=UTC))
    gold_answer(gold, rita, N, at=datetime(2026, 3, 30, 0, 0, tzinfo=UTC))
    pair((rita, V, ("violence",)), (vic, V, ("violence",)), at=day(1))
    pair((rita, V, ("violence",)), (vic, V, ("violence",)), at=day(2))
    rita_figures = of(quality_report(period=PERIOD), "rita")
    assert (rita_figures.gold_decided, rita_figures.gold_correct) == (2, 1)
    assert rita_figures.second_reviews == 1
    one_day = of(quality_report(period=Period(date(2026, 3, 1), date(2026, 3, 1))), "rita")
    assert (one_day.gold_decided, one_day.second_reviews) == (1, 1)


def test_it_gives_weekly_points_for_the_chart(report: QualityReport):
    rita = of(report, "rita")
    assert [w.monday for w in rita.weeks] == [date(2026, 3, d) for d in (2, 9, 16, 23)]
    # Week of 2 March: golden 2 of 2; pairs violation/violation, no/no, violation/no.
    first = rita.weeks[0]
    assert (first.gold.hits, first.gold.total) == (2, 2)
    assert first.kappa.pairs == 3
    assert first.kappa.value == pytest.approx(kappa_by_hand([[1, 1], [0, 1]]))
    # Week of 9 March: golden 1 of 3. Week of 16 March: no golden answer.
    assert (rita.weeks[1].gold.hits, rita.weeks[1].gold.total) == (1, 3)
    assert rita.weeks[2].gold.share is None


def test_a_reviewers_own_report_holds_only_their_figures(people: tuple[Any, Any, Any]):
    rita, vic, sam = people
    fixed_data(rita, vic, sam)
    own = quality_report(period=PERIOD, reviewer_id=rita.pk)
    assert [r.reviewer for r in own.reviewers] == ["rita"]
    assert own.reviewers[0] == of(quality_report(period=PERIOD), "rita")
    assert (own.gold.hits, own.gold.total) == (3, 5)
    assert own.kappa.value == pytest.approx(28 / 61)


def test_a_reviewer_with_nothing_in_the_period_gets_empty_figures(people: tuple[Any, Any, Any]):
    rita = people[0]
    own = quality_report(period=PERIOD, reviewer_id=rita.pk)
    (figures,) = own.reviewers
    assert (figures.gold_decided, figures.second_reviews, figures.decisions) == (0, 0, 0)
    assert (figures.gold.share, figures.overlap, figures.median_seconds) == (None, None, None)
    assert figures.kappa == Kappa(pairs=0)


def test_it_reads_the_figures_in_the_same_few_queries_however_many_rows(
    people: tuple[Any, Any, Any], django_assert_max_num_queries: Any
):
    fixed_data(*people)
    with django_assert_max_num_queries(9):
        quality_report(period=PERIOD)
    rita, vic, sam = people
    for n in range(20):
        gold_answer(GoldItemFactory(), rita, V, "violence", at=day(3) + timedelta(minutes=n))
        pair((vic, V, ("hate",)), (sam, N, ()), at=day(4) + timedelta(minutes=n))
    with django_assert_max_num_queries(9):
        quality_report(period=PERIOD)


# --- CSV ----------------------------------------------------------------------------------


def test_its_csv_has_the_contract_columns_and_one_row_per_reviewer(report: QualityReport):
    lines = quality_report_csv(report.reviewers).splitlines()
    assert lines[0].split(",")[:1] == ["reviewer"]
    for column in ("gold_decided", "gold_correct", "second_reviews", "agreements"):
        assert column in CSV_HEADER
    row = dict(zip(CSV_HEADER, lines[2].split(","), strict=True))
    assert row["reviewer"] == "sam"
    rita = dict(zip(CSV_HEADER, lines[1].split(","), strict=True))
    assert rita["gold_decided"] == "5" and rita["gold_correct"] == "3"
    assert rita["gold_accuracy"] == "0.6000"
    assert rita["second_reviews"] == "11" and rita["agreements"] == "8"
    assert rita["kappa"] == f"{28 / 61:.4f}" and rita["kappa_pairs"] == "11"
    assert rita["median_seconds"] == "40"
    # sam's single pair: no kappa, an empty cell.
    assert row["kappa"] == "" and row["kappa_pairs"] == "1"


# --- Cohen's kappa: degenerate tables and its bounds ----------------------------------------


@pytest.mark.parametrize(
    "pairs",
    [
        [],
        [(V, V)],
        [(V, V), (V, V), (V, V)],  # one class on both sides
        [(V, V), (V, N), (V, N)],  # the first side gave one answer only
        [(N, V), (V, V)],  # the second side gave one answer only
    ],
)
def test_it_has_no_kappa_for_too_few_pairs_or_one_answer_throughout(pairs: list[Any]):
    kappa = cohen_kappa(pairs, (V, N))
    assert kappa == Kappa(pairs=len(pairs))
    assert not kappa.judged and kappa.too_few


def test_it_clips_the_interval_to_where_kappa_lives():
    # Near-total disagreement on 7 pairs: the normal approximation reaches below −1.
    table = [[0, 3], [4, 0]]
    raw = cohens_kappa(np.array(table))
    assert raw.kappa_low < -1
    pairs = [(V, N)] * 3 + [(N, V)] * 4
    kappa = cohen_kappa(pairs, (V, N))
    assert kappa.value == pytest.approx(kappa_by_hand(table))
    assert kappa.low == -1.0 and kappa.high == pytest.approx(float(raw.kappa_upp))


answers = st.sampled_from([V, N])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(answers, answers), max_size=60))
def test_kappa_is_within_minus_one_and_one(pairs: list[tuple[str, str]]):
    kappa = cohen_kappa(pairs, (V, N))
    if kappa.value is not None:
        assert kappa.low is not None and kappa.high is not None
        assert -1.0 <= kappa.low <= kappa.value <= kappa.high <= 1.0


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=40), st.integers(min_value=1, max_value=40))
def test_kappa_is_one_when_all_pairs_agree_with_both_answers_present(violations: int, nos: int):
    kappa = cohen_kappa([(V, V)] * violations + [(N, N)] * nos, (V, N))
    assert kappa.value == pytest.approx(1.0)
    assert kappa.pairs == violations + nos


def test_kappa_and_its_interval_agree_with_statsmodels_on_many_tables():
    """cohen_kappa is plain Python (statsmodels cost each web process ~90 MB to import):
    on 500 random tables of 2 to 4 classes it gives statsmodels' kappa and 95 % interval."""
    import random

    rng = random.Random(12)
    compared = 0
    for _ in range(500):
        size, n = rng.choice((2, 3, 4)), rng.randint(2, 60)
        pairs = []
        for _ in range(n):
            first = rng.randrange(size)
            pairs.append((first, first if rng.random() < 0.5 else rng.randrange(size)))
        kappa = cohen_kappa(pairs, list(range(size)))
        if kappa.value is None:
            continue
        table = [[0] * size for _ in range(size)]
        for first, second in pairs:
            table[first][second] += 1
        theirs = cohens_kappa(table)
        clip = [
            min(1.0, max(-1.0, float(v)))
            for v in (theirs.kappa, theirs.kappa_low, theirs.kappa_upp)
        ]
        assert [kappa.value, kappa.low, kappa.high] == pytest.approx(clip, abs=1e-12)
        compared += 1
    assert compared > 400


def test_the_median_read_off_counts_is_statistics_median():
    """The report reads each reviewer's (seconds, how many) from the database, not a million
    values: the median from those counts is `statistics.median` of the values."""
    import random
    import statistics
    from collections import Counter

    from moderation.services.stats import median_of_counts

    rng = random.Random(5)
    for _ in range(300):
        values = [rng.randint(0, 40) for _ in range(rng.randint(1, 50))]
        counts = list(Counter(values).items())
        assert median_of_counts(counts) == (len(values), statistics.median(values))
    assert median_of_counts([]) == (0, None)
