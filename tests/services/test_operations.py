"""The operations dashboard's figures (issue 11) and the workers' queue sampler.

The fixed data set (tests/operations_data.py) is small enough to count by hand: each expected
figure below is worked out from its rows in the comment beside it, not read back from the code.
Percentiles are PostgreSQL's percentile_cont: the value at position q × (n − 1) of the sorted
values, interpolated linearly between its neighbours."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from moderation import jobs
from moderation.models import FlaggedItem, ItemState, QueueSample, QueueTarget, ReviewQueue
from moderation.services.operations import (
    Operations,
    PeriodError,
    Spread,
    operations_figures,
    percentile_cont,
)
from moderation.services.operations_csv import CSV_HEADER, operations_csv
from moderation.services.queue_sampler import queue_sample
from tests.factories import FlaggedItemFactory
from tests.operations_data import NOW, at, fixed_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def report() -> Operations:
    fixed_data()
    return operations_figures(period="24h", now=NOW)


def test_it_covers_the_24_hours_up_to_the_top_of_the_next_hour(report: Operations):
    assert report.window.start == at(13, day=9)
    assert report.window.end == at(13)
    assert len(report.buckets) == 24
    assert report.buckets[0] == at(13, day=9) and report.buckets[-1] == at(12)


def test_it_counts_the_intake_per_hour_without_golden_items(report: Operations):
    # Received in the window: E 08:00; C, F 09:00 and H 09:30; A 10:00 (G is golden);
    # B 11:05, D 11:30; J 12:10. I came on 9 March at 12:00, before the window.
    by_hour = dict(zip(report.buckets, report.intake, strict=True))
    assert {h.hour: n for h, n in by_hour.items() if n} == {8: 1, 9: 3, 10: 1, 11: 2, 12: 1}
    assert sum(report.intake) == 8


def test_it_counts_decisions_per_hour_escalations_in_undone_ones_out(report: Operations):
    # I 00:30; E1 08:30; F2 09:40 (F1 undone); A 10:30, H1 10:00 (overturned, still work done);
    # C 11:00, D 11:50, E2 11:30; B 12:05, H2 12:00. G is golden.
    by_hour = {h.hour: n for h, n in zip(report.buckets, report.decisions, strict=True) if n}
    assert by_hour == {0: 1, 8: 1, 9: 1, 10: 2, 11: 3, 12: 2}


def test_it_gives_median_and_p90_time_from_flag_to_decision(report: Operations):
    # Outcomes (standing, final, not overturning, not golden), seconds from received to decided:
    # A 1800, B 3600, C 7200, D 1200, E2 12600 (from 08:00), F2 2400, I 45000 (from 9 March 12:00).
    # Sorted: 1200 1800 2400 3600 7200 12600 45000. Median: the 4th, 3600.
    # p90: position 0.9 × 6 = 5.4, 12600 + 0.4 × (45000 − 12600) = 25560.
    assert report.to_decision == Spread(count=7, median=3600, p90=pytest.approx(25560))


def test_it_gives_median_and_p90_time_from_decision_to_delivered_action(report: Operations):
    # Delivered, created in the window, with decisions behind them: B's warning, 12:05 → 12:07,
    # 120 s; C and D's action, from the newer (D, 11:50) to 11:55, 300 s. The action by hand
    # rests on no decision; the failed and pending ones were not delivered.
    # Median (120 + 300) / 2 = 210; p90 at position 0.9: 120 + 0.9 × 180 = 282.
    assert report.to_action == Spread(count=2, median=210, p90=pytest.approx(282))


def test_it_gives_sla_attainment_per_queue_decided_from(report: Operations):
    # Standard (24 h): A 30 min, B 1 h, F2 40 min, I 12.5 h: 4 of 4. Critical (1 h): C 2 h late,
    # D 20 min: 1 of 2. Escalated (4 h): E2 3 h after its escalation at 08:30 (3.5 h after it
    # came): 1 of 1. Audit: nothing decided.
    found = {a.queue: (a.within, a.decided) for a in report.attainment}
    assert found == {"standard": (4, 4), "critical": (1, 2), "escalated": (1, 1), "audit": (0, 0)}
    shares = {a.queue: a.share for a in report.attainment}
    assert shares == {"standard": 1.0, "critical": 0.5, "escalated": 1.0, "audit": None}


def test_it_follows_a_queue_target_the_admins_set(report: Operations):
    QueueTarget.objects.update_or_create(
        queue=ReviewQueue.CRITICAL, defaults={"target_minutes": 150}
    )
    found = operations_figures(period="24h", now=NOW)
    # C took 2 h, within 150 minutes now.
    assert [(a.within, a.decided) for a in found.attainment if a.queue == "critical"] == [(2, 2)]


def test_it_gives_each_reviewers_throughput_and_handling_time(report: Operations):
    # alice: A 60, B 120, E1 200, H1 80 (F1 undone, G golden); hours 08, 10, 12.
    #   sorted 60 80 120 200: median 100; p90 at 2.7: 120 + 0.7 × 80 = 176.
    # bob: C 30, D 90, F2 50, I 100; hours 00, 09, 11. sorted 30 50 90 100: median 70;
    #   p90 at 2.7: 90 + 0.7 × 10 = 97.
    # carol: E2 40, H2 70; hours 11, 12. median 55; p90 at 0.9: 40 + 0.9 × 30 = 67.
    lines = [
        (r.reviewer, r.decisions, r.active_hours, r.handling.median, r.handling.p90)
        for r in report.reviewers
    ]
    assert lines == [
        ("alice", 4, 3, 100, pytest.approx(176)),
        ("bob", 4, 3, 70, pytest.approx(97)),
        ("carol", 2, 2, 55, pytest.approx(67)),
    ]
    assert report.reviewers[0].per_active_hour == pytest.approx(4 / 3)


def test_it_gives_the_delivery_success_rate_of_finished_deliveries(report: Operations):
    # Created in the window: 3 delivered (B, C+D, by hand), 1 failed, 1 pending.
    d = report.deliveries
    assert (d.delivered, d.failed, d.pending) == (3, 1, 1)
    assert d.success_rate == 0.75


def test_it_draws_each_queue_at_its_worst_per_bucket_and_keeps_the_latest(report: Operations):
    standard = dict(zip(report.buckets, report.queue_series["standard"], strict=True))
    # 11:58 depth 5 and 11:59 depth 7: the hour's worst is 7, oldest 660 s.
    assert (standard[at(11)].depth, standard[at(11)].oldest_age_seconds) == (7, 660)
    assert (standard[at(12)].depth, standard[at(12)].oldest_age_seconds) == (2, 1200)
    # 9 March 12:59 falls before the window.
    assert all(cell.depth is None for h, cell in standard.items() if h < at(11))
    now = {q.queue: (q.depth, q.oldest_age_seconds, q.taken_at) for q in report.queues}
    assert now["standard"] == (2, 1200, at(12, 29))
    assert now["critical"] == (1, 30, at(12, 29))
    assert now["audit"] == (None, None, None)


def test_it_buckets_seven_days_by_six_hours_and_thirty_by_day():
    fixed_data()
    week = operations_figures(period="7d", now=NOW)
    assert len(week.buckets) == 28 and week.buckets[-1] == at(7)
    # 10 March 07:00-13:00 holds all eight; I (9 March 12:00) is in 9 March 07:00-13:00.
    assert week.intake[-1] == 8 and week.intake[-2] == 0 and week.intake[-5] == 1
    month = operations_figures(period="30d", now=NOW)
    assert len(month.buckets) == 30 and month.buckets[-1] == at(13, day=9)
    assert month.intake[-1] == 8 and month.intake[-2] == 1
    assert month.deliveries.delivered == 4  # and the one of 9 March


def test_it_refuses_a_period_it_does_not_know(db: None):
    with pytest.raises(PeriodError, match="“1y” is not a period; choose one of 24h, 7d, 30d"):
        operations_figures(period="1y", now=NOW)


def test_it_matches_percentile_cont_by_hand():
    assert percentile_cont([], 0.5) is None
    assert percentile_cont([5], 0.9) == 5
    assert percentile_cont([1, 2, 3, 4], 0.5) == 2.5
    assert percentile_cont([10, 0, 20], 0.9) == pytest.approx(18)


def test_it_writes_one_value_a_row_in_the_csv(report: Operations):
    rows = list(csv.reader(io.StringIO(operations_csv(report))))
    assert tuple(rows[0]) == CSV_HEADER == ("figure", "queue", "reviewer", "bucket_start", "value")
    assert all(len(r) == 5 for r in rows)
    assert ["to_decision_median_seconds", "", "", "", "3600"] in rows
    assert ["sla_attainment", "critical", "", "", "0.5"] in rows
    assert ["sla_attainment", "audit", "", "", ""] in rows
    assert ["reviewer_decisions", "", "alice", "", "4"] in rows
    assert ["reviewer_handling_p90_seconds", "", "bob", "", "97"] in rows
    assert ["delivery_success_rate", "", "", "", "0.75"] in rows
    assert ["intake", "", "", "2026-03-10T09:00:00Z", "3"] in rows
    assert ["queue_depth_max", "standard", "", "2026-03-10T11:00:00Z", "7"] in rows
    assert ["queue_depth_max", "standard", "", "2026-03-10T10:00:00Z", ""] in rows


# --- The sampler --------------------------------------------------------------------------

SAMPLED = datetime(2026, 3, 10, 12, 30, 41, tzinfo=UTC)


def _waiting() -> None:
    FlaggedItemFactory(queue="standard", queued_at=SAMPLED - timedelta(minutes=10))
    FlaggedItemFactory(queue="standard", queued_at=SAMPLED - timedelta(hours=25))
    FlaggedItemFactory(
        queue="escalated", state=ItemState.ESCALATED, queued_at=SAMPLED - timedelta(hours=5)
    )
    # Held or decided: not waiting.
    FlaggedItemFactory(
        queue="critical", state=ItemState.CLAIMED, queued_at=SAMPLED - timedelta(hours=3)
    )
    FlaggedItemFactory(
        queue="critical", state=ItemState.DECIDED, queued_at=SAMPLED - timedelta(hours=3)
    )


def _samples() -> dict[str, tuple[object, ...]]:
    return {
        s.queue: (s.taken_at, s.depth, s.oldest_age_seconds, s.overdue)
        for s in QueueSample.objects.all()
    }


def test_the_sampler_records_each_queue_at_the_minute(db: None):
    _waiting()
    assert queue_sample(SAMPLED) == 4
    minute = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
    assert _samples() == {
        # 25 h = 90000 s waiting, past the 24 h target; the other 10 minutes.
        "standard": (minute, 2, 90000, 1),
        # 5 h past the escalation, beyond its 4 h target.
        "escalated": (minute, 1, 5 * 3600, 1),
        # Empty: no oldest age.
        "critical": (minute, 0, None, 0),
        "audit": (minute, 0, None, 0),
    }


def test_the_sampler_writes_one_row_per_queue_per_minute(db: None):
    _waiting()
    assert queue_sample(SAMPLED) == 4
    assert queue_sample(SAMPLED + timedelta(seconds=15)) == 0
    assert QueueSample.objects.count() == 4
    assert queue_sample(SAMPLED + timedelta(seconds=20)) == 4  # 12:31:01, the next minute
    assert QueueSample.objects.count() == 8


def test_a_second_worker_in_the_same_minute_adds_nothing(db: None):
    """Two workers that both found the minute unsampled: the unique (queue, taken_at) keeps
    the first one's rows."""
    _waiting()
    QueueSample.objects.create(taken_at=at(12, 30), queue="audit", depth=9)
    QueueSample.objects.filter(queue="audit").update(taken_at=at(12, 31))
    queue_sample(SAMPLED + timedelta(seconds=20))  # 12:31: audit is there, the rest are not
    assert QueueSample.objects.filter(taken_at=at(12, 31)).count() == 4
    assert QueueSample.objects.get(queue="audit").depth == 9


def test_the_workers_sweep_samples_the_queues(db: None, redis_clean: object):
    FlaggedItemFactory(queue="standard")
    jobs.periodic()
    assert QueueSample.objects.get(queue="standard").depth == 1
    assert QueueSample.objects.count() == 4


def test_the_sampler_counts_nothing_twice_in_a_minute(db: None, django_assert_num_queries):
    _waiting()
    queue_sample(SAMPLED)
    with django_assert_num_queries(1):
        queue_sample(SAMPLED)
    assert FlaggedItem.objects.count() == 5
