"""Snapshots of the operations dashboard (issue 12): the workers' sweep computes each period
on its own schedule, one worker a period, and the page serves the snapshot, or computes the
figures itself when there is none fresh enough (services/operations_snapshot.py)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation import jobs
from moderation.models import OperationsSnapshot
from moderation.services import operations_snapshot
from moderation.services.operations import (
    PERIODS,
    QUEUES,
    Attainment,
    Deliveries,
    Operations,
    PeriodError,
    QueueBucket,
    QueueNow,
    ReviewerLine,
    Spread,
    Window,
    operations_figures,
)
from moderation.services.operations_csv import operations_csv
from moderation.services.operations_snapshot import (
    LEASE,
    REFRESH_EVERY,
    figures_dump,
    figures_load,
    operations_served,
    snapshots_refresh,
)
from tests.factories import FlaggedItemFactory
from tests.operations_data import NOW, at, fixed_data

MINUTE = timedelta(minutes=1)


def computed() -> dict[str, datetime | None]:
    return {s.period: s.computed_at for s in OperationsSnapshot.objects.all()}


def no_live_compute(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(**kwargs: Any) -> Operations:
        raise AssertionError(f"computed live: {kwargs}")

    monkeypatch.setattr(operations_snapshot, "operations_figures", refuse)


# --- The JSON form --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_figures_come_back_from_the_database_equal(db: None):
    fixed_data()
    report = operations_figures(period="24h", now=NOW)
    OperationsSnapshot.objects.create(period="24h", computed_at=NOW, figures=figures_dump(report))
    back = figures_load(OperationsSnapshot.objects.get().figures)
    assert back == report
    # The queues in their order (jsonb reorders an object's keys, not a list's), so the CSV,
    # every line of it, is the same.
    assert list(back.queue_series) == list(report.queue_series) == list(QUEUES)
    assert operations_csv(back) == operations_csv(report)
    assert (back.to_decision.count, back.to_decision.median) == (7, 3600)
    assert back.window.start == at(13, day=9) and back.now == NOW


aware = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
durations = st.timedeltas(min_value=timedelta(days=-1000), max_value=timedelta(days=1000))
numbers = st.floats(allow_nan=False, allow_infinity=False)
counts = st.integers(min_value=0, max_value=2**53)
spreads = st.builds(Spread, count=counts, median=st.none() | numbers, p90=st.none() | numbers)
queue_names = st.sampled_from(QUEUES)
operations = st.builds(
    Operations,
    window=st.builds(
        Window, key=st.sampled_from(list(PERIODS)), start=aware, end=aware, step=durations
    ),
    now=aware,
    queues=st.lists(
        st.builds(
            QueueNow,
            queue=queue_names,
            label=st.text(),
            target=durations,
            taken_at=st.none() | aware,
            depth=st.none() | counts,
            oldest_age_seconds=st.none() | counts,
            overdue=st.none() | counts,
        ),
        max_size=4,
    ),
    queue_series=st.dictionaries(
        st.text(),
        st.lists(
            st.builds(
                QueueBucket,
                depth=st.none() | counts,
                oldest_age_seconds=st.none() | counts,
                overdue=st.none() | counts,
            ),
            max_size=5,
        ),
        max_size=5,
    ),
    intake=st.lists(counts, max_size=30),
    decisions=st.lists(counts, max_size=30),
    to_decision=spreads,
    to_action=spreads,
    attainment=st.lists(
        st.builds(
            Attainment,
            queue=queue_names,
            label=st.text(),
            target=durations,
            decided=counts,
            within=counts,
        ),
        max_size=4,
    ),
    reviewers=st.lists(
        st.builds(
            ReviewerLine,
            reviewer_id=counts,
            reviewer=st.text(),
            decisions=counts,
            active_hours=counts,
            handling=spreads,
        ),
        max_size=5,
    ),
    deliveries=st.builds(Deliveries, delivered=counts, failed=counts, pending=counts),
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_any_figures_survive_the_json_round_trip_exactly(report: Operations):
    text = json.dumps(figures_dump(report), allow_nan=False)
    back = figures_load(json.loads(text))
    assert back == report
    assert list(back.queue_series) == list(report.queue_series)
    assert [type(v) for v in back.intake] == [int] * len(report.intake)


def test_a_value_json_cannot_hold_is_refused():
    report = Operations(
        window=Window.of("24h", now=NOW),
        now=NOW,
        queues=[],
        queue_series={},
        intake=[],
        decisions=[],
        to_decision=Spread(1, float("nan"), None),
        to_action=Spread(0, None, None),
        attainment=[],
        reviewers=[],
        deliveries=Deliveries(0, 0, 0),
    )
    with pytest.raises(ValueError, match="nan has no JSON form"):
        figures_dump(report)


@pytest.mark.parametrize(
    "broken",
    [
        {"window": "24h"},  # fields missing
        [1, 2, 3],
        None,
    ],
)
def test_figures_of_another_shape_are_refused(broken: Any):
    with pytest.raises((ValueError, TypeError, KeyError)):
        figures_load(broken)


# --- The sweep ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_sweep_computes_one_period_a_run_the_shortest_first(db: None):
    assert snapshots_refresh(NOW) == "24h"
    assert snapshots_refresh(NOW) == "7d"
    assert snapshots_refresh(NOW) == "30d"
    assert snapshots_refresh(NOW) is None  # all fresh
    assert computed() == {"24h": NOW, "7d": NOW, "30d": NOW}
    assert figures_load(OperationsSnapshot.objects.get(period="30d").figures).window.key == "30d"


@pytest.mark.django_db
def test_the_sweep_refreshes_each_period_once_it_is_older_than_its_interval(db: None):
    for _ in PERIODS:
        snapshots_refresh(NOW)
    assert snapshots_refresh(NOW + timedelta(seconds=59)) is None  # under a minute old
    later = NOW + MINUTE + timedelta(seconds=1)
    assert snapshots_refresh(later) == "24h"
    five = NOW + 5 * MINUTE + timedelta(seconds=1)
    assert snapshots_refresh(five) == "24h"
    assert snapshots_refresh(five) == "7d"
    assert snapshots_refresh(five) is None  # 30 days: every 15 minutes
    assert computed() == {"24h": five, "7d": five, "30d": NOW}
    assert REFRESH_EVERY == {"24h": MINUTE, "7d": 5 * MINUTE, "30d": 15 * MINUTE}


@pytest.mark.django_db
def test_the_snapshot_follows_the_decisions_at_the_next_refresh(db: None):
    fixed_data()
    snapshots_refresh(NOW)
    FlaggedItemFactory(received_at=at(12, 20), queued_at=at(12, 20))
    assert sum(operations_served(period="24h", now=NOW).report.intake) == 8
    snapshots_refresh(NOW + 2 * MINUTE)
    assert sum(operations_served(period="24h", now=NOW + 2 * MINUTE).report.intake) == 9


@pytest.mark.django_db
def test_a_claimed_refresh_is_left_to_its_worker_until_the_claim_lapses(db: None):
    OperationsSnapshot.objects.create(period="24h", refreshing_until=NOW + MINUTE)
    assert snapshots_refresh(NOW) == "7d"  # another worker is computing 24 hours
    assert computed()["24h"] is None
    lapsed = NOW + MINUTE + timedelta(seconds=1)
    assert snapshots_refresh(lapsed) == "24h"  # its worker died: taken over
    row = OperationsSnapshot.objects.get(period="24h")
    assert row.computed_at == lapsed and row.refreshing_until is None
    assert LEASE == 5 * MINUTE


@pytest.mark.django_db
def test_a_claim_is_taken_once(db: None):
    OperationsSnapshot.objects.create(period="24h")
    assert operations_snapshot._claim("24h", NOW) == NOW + LEASE
    assert operations_snapshot._claim("24h", NOW) is None
    assert operations_snapshot._claim("24h", NOW + LEASE) == NOW + 2 * LEASE  # lapsed


@pytest.mark.django_db
def test_a_refresh_that_fails_gives_its_claim_back(db: None, monkeypatch: pytest.MonkeyPatch):
    def broken(**kwargs: Any) -> Operations:
        raise RuntimeError("database went away")

    monkeypatch.setattr(operations_snapshot, "operations_figures", broken)
    with pytest.raises(RuntimeError):
        snapshots_refresh(NOW)
    row = OperationsSnapshot.objects.get(period="24h")
    assert row.refreshing_until is None and row.computed_at is None and row.figures is None
    monkeypatch.undo()
    assert snapshots_refresh(NOW + timedelta(seconds=15)) == "24h"  # the next sweep


@pytest.mark.django_db
def test_a_slow_refresh_does_not_replace_newer_figures(db: None):
    older = operations_figures(period="24h", now=NOW)
    operations_served(period="24h", now=NOW + MINUTE)  # a page computed them meanwhile
    assert operations_snapshot._store(older) is False
    assert computed() == {"24h": NOW + MINUTE}


@pytest.mark.django_db
def test_a_sweep_with_nothing_due_costs_one_query(db: None, django_assert_num_queries: Any):
    for _ in PERIODS:
        snapshots_refresh(NOW)
    with django_assert_num_queries(1):
        assert snapshots_refresh(NOW + timedelta(seconds=15)) is None


@pytest.mark.django_db
def test_the_workers_sweep_refreshes_the_snapshots(db: None, redis_clean: object):
    jobs.periodic()
    assert OperationsSnapshot.objects.get().period == "24h"  # one period a run
    assert OperationsSnapshot.objects.get().figures is not None
    jobs.periodic()
    assert set(computed()) == {"24h", "7d"}


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_compute_a_period_once(monkeypatch: pytest.MonkeyPatch):
    """Real PostgreSQL, two connections: both find 24 hours due at the same moment; one
    claims and computes it (held inside the computation until the other has finished), the
    other finds it claimed and, with nothing else due, does nothing."""
    sweep = NOW + timedelta(seconds=1)
    reports = {p: operations_figures(period=p, now=sweep) for p in PERIODS}
    for period in ("7d", "30d"):
        operations_snapshot._store(reports[period])
    calls: list[str] = []
    release = threading.Event()

    def slow(*, period: str, now: datetime) -> Operations:
        calls.append(period)
        assert release.wait(10), "the other worker did not finish"
        return reports[period]

    monkeypatch.setattr(operations_snapshot, "operations_figures", slow)
    start = threading.Barrier(2)
    done: list[str | None] = []
    finished = threading.Condition()

    def worker() -> None:
        try:
            start.wait(5)
            result = snapshots_refresh(sweep)
            with finished:
                done.append(result)
                finished.notify_all()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    with finished:
        assert finished.wait_for(lambda: len(done) == 1, timeout=10)
    assert done == [None]  # the second worker left the claimed period alone
    release.set()
    for t in threads:
        t.join(10)
    assert calls == ["24h"]
    assert done == [None, "24h"]
    row = OperationsSnapshot.objects.get(period="24h")
    assert row.computed_at == sweep and row.refreshing_until is None


# --- Serving ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_with_no_snapshot_the_page_computes_the_figures_and_keeps_them(db: None):
    fixed_data()
    served = operations_served(period="24h", now=NOW)
    assert served.live and served.computed_at == NOW
    assert served.report == operations_figures(period="24h", now=NOW)
    assert computed() == {"24h": NOW}


@pytest.mark.django_db
def test_a_fresh_snapshot_is_served_as_it_is(db: None, monkeypatch: pytest.MonkeyPatch):
    fixed_data()
    snapshots_refresh(NOW)
    report = operations_figures(period="24h", now=NOW)
    no_live_compute(monkeypatch)
    served = operations_served(period="24h", now=NOW + 2 * MINUTE)
    assert served.report == report and not served.live
    assert served.computed_at == NOW and served.age(NOW + 2 * MINUTE) == 2 * MINUTE
    assert not served.late(NOW + 2 * MINUTE)
    assert served.late(NOW + 2 * MINUTE + timedelta(seconds=1))  # older than two refreshes


@pytest.mark.django_db
def test_a_snapshot_older_than_three_refreshes_is_computed_again(db: None):
    snapshots_refresh(NOW)
    FlaggedItemFactory(received_at=at(12, 20), queued_at=at(12, 20))
    stale = NOW + 3 * MINUTE + timedelta(seconds=1)  # workers stopped
    served = operations_served(period="24h", now=stale)
    assert served.live and sum(served.report.intake) == 1
    assert computed() == {"24h": stale}


@pytest.mark.django_db
def test_an_unreadable_snapshot_is_computed_again(db: None, caplog: pytest.LogCaptureFixture):
    OperationsSnapshot.objects.create(period="7d", computed_at=NOW, figures={"from": "v0"})
    served = operations_served(period="7d", now=NOW)
    assert served.live and served.report.window.key == "7d"
    assert "operations snapshot 7d unreadable" in caplog.text
    assert figures_load(OperationsSnapshot.objects.get().figures) == served.report


def test_a_period_it_does_not_know_is_refused():
    with pytest.raises(PeriodError, match="“1y” is not a period"):
        operations_served(period="1y", now=NOW)
