"""The ingest service's priority and routing: which queue an item goes to, and in what order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from moderation import selectors
from moderation.models import FlaggedItem, ReviewQueue, Severity
from moderation.services.ingest import AGE_BONUS_MAX, item_priority, item_queue
from tests.conftest import make_item
from tests.factories import accept_and_process, signal

pytestmark = pytest.mark.django_db


def test_a_higher_score_comes_first():
    fresh = timedelta(0)
    assert item_priority(signals=[(0.9, "high")], age=fresh) > item_priority(
        signals=[(0.6, "high")], age=fresh
    )


def test_a_higher_severity_comes_first_at_the_same_score():
    fresh = timedelta(0)
    ranks = [item_priority(signals=[(0.8, s.value)], age=fresh) for s in Severity]
    assert ranks == sorted(ranks) and len(set(ranks)) == 4


def test_the_strongest_signal_sets_the_priority():
    fresh = timedelta(0)
    mixed = item_priority(signals=[(0.2, "low"), (0.9, "critical"), (0.5, "medium")], age=fresh)
    assert mixed == item_priority(signals=[(0.9, "critical")], age=fresh)


def test_age_lifts_priority_by_a_bounded_amount():
    def at(hours: float) -> int:
        return item_priority(signals=[(0.5, "medium")], age=timedelta(hours=hours))

    assert at(0) < at(1) < at(10)
    assert at(24 * 365) - at(0) == AGE_BONUS_MAX
    assert at(24 * 365) == at(24 * 30)
    # A clock a little ahead (flagged_at after receipt) earns no negative bonus.
    assert at(-1) == at(0)


def test_a_fresh_critical_flag_outranks_any_backlog_of_low_ones():
    oldest_low = item_priority(signals=[(1.0, "low")], age=timedelta(days=365))
    fresh_critical = item_priority(signals=[(0.5, "critical")], age=timedelta(0))
    assert fresh_critical > oldest_low


def test_it_routes_critical_severities_to_the_critical_queue():
    assert item_queue(severities=["critical"]) == ReviewQueue.CRITICAL
    assert item_queue(severities=["low", "critical"]) == ReviewQueue.CRITICAL
    assert item_queue(severities=["high", "medium", "low"]) == ReviewQueue.STANDARD


def test_processed_items_are_routed_and_ordered_for_review(signed_key):
    accept_and_process(
        signed_key.api_key,
        make_item(1, signals=signal("harassment", 0.9)),
        make_item(2, signals=signal("S3", 0.6)),
        make_item(3, signals=signal("violence", 0.95)),
        make_item(4, signals=signal("other", 0.99)),
        make_item(5, signals=[*signal("hate", 0.3), *signal("weapons", 0.7)]),
    )
    queues = dict(FlaggedItem.objects.values_list("request_id", "queue"))
    assert queues == {
        "req_0001": "standard",
        "req_0002": "critical",
        "req_0003": "standard",
        "req_0004": "standard",
        "req_0005": "critical",
    }
    # Earliest due first (services/sla.py): the critical queue's 1 h target beats the standard
    # queue's 24 h; within a queue, score × severity weight (critical 4, high 3, medium 2,
    # low 1): 2.8, 2.4 in critical, then 2.85, 1.8, 0.99 in standard.
    order = [i.request_id for i in selectors.pending_items()]
    assert order == ["req_0005", "req_0002", "req_0003", "req_0001", "req_0004"]
    assert [i.request_id for i in selectors.pending_items(queue="critical")] == [
        "req_0005",
        "req_0002",
    ]


def test_an_older_flag_gets_its_age_bonus_when_processed(signed_key):
    old = (timezone.now() - timedelta(hours=5)).isoformat()
    accept_and_process(
        signed_key.api_key,
        make_item(1, signals=signal("violence", 0.5)),
        make_item(2, signals=signal("violence", 0.5), flagged_at=old),
    )
    fresh, aged = (FlaggedItem.objects.get(request_id=r).priority for r in ("req_0001", "req_0002"))
    assert aged - fresh == 50
