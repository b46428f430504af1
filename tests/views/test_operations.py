"""/reports/operations/ and its CSV, for seniors and admins (issue 11, CONTRACT §8 v2
"operations"), on the fixed data set of tests/operations_data.py."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client

from moderation.models import OperationsSnapshot, QueueSample
from moderation.services.operations_snapshot import snapshots_refresh
from moderation.views import operations as operations_view
from tests.factories import FlaggedItemFactory, page_of, signed_in
from tests.operations_data import NOW, at, fixed_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(db: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The fixed data set, with the dashboard's clock at its NOW."""
    monkeypatch.setattr(operations_view, "timezone", SimpleNamespace(now=lambda: NOW))
    return fixed_data()


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def row_of(html: str, name: str) -> str:
    match = re.search(
        rf'<tr><th scope="row">(?:<span[^>]*></span>)?{name}</th>(.*?)</tr>', html, re.S
    )
    assert match, f"no row for {name}"
    return text_of(match[1])


@pytest.mark.parametrize("url", ["/reports/operations/", "/reports/operations.csv"])
def test_the_dashboard_is_for_seniors_and_admins(
    client: Client, reviewer: Any, senior: Any, admin_user: Any, url: str
):
    assert signed_in(client, reviewer).get(url).status_code == 403
    assert signed_in(client, senior).get(url).status_code == 200
    assert signed_in(client, admin_user).get(url).status_code == 200


def test_it_shows_the_figures_of_the_last_24_hours(data: Any, senior_client: Client):
    html = page_of(senior_client.get("/reports/operations/"))
    summary = text_of(re.search(r'<dl class="figures ops-summary">(.*?)</dl>', html, re.S)[1])
    # Waiting now: the latest samples, standard 2 and critical 1; intake 8; decisions 10;
    # median to decision 3600 s = 60 min; p90 25560 s = 7 h 06 min; to action 210 s;
    # deliveries 3 of 4 finished.
    assert summary == (
        "Waiting now 3 Past target now 0 Items in 8 Decisions 10 Median to decision 60 min "
        "p90 to decision 7 h 06 min Median to action 3 min 30 s Delivery success 75 %"
    )
    # The critical queue: a 60-minute target, 1 waiting for 30 s, none past target.
    assert row_of(html, "Critical") == "60 min 1 30 s 0"
    attainment = html[html.index('id="sla-attainment"') :]
    assert row_of(attainment, "Critical") == "60 min 1 / 2 50 %"
    assert row_of(html, "alice") == "4 3 1.3 1 min 40 s 2 min 56 s"
    assert row_of(html, "Flag received → final decision") == "7 60 min 7 h 06 min"
    assert row_of(html, "Decision → action delivered") == "2 3 min 30 s 4 min 42 s"
    # Each chart is drawn, with its table.
    for chart in ("chart-depth", "chart-age", "chart-flow"):
        assert f'id="{chart}"' in html
    assert html.count('<details class="chart-data">') == 3
    assert 'aria-current="true">Last 24 hours' in html


def test_it_switches_the_period(data: Any, senior_client: Client):
    html = page_of(senior_client.get("/reports/operations/?period=30d"))
    assert 'aria-current="true">Last 30 days' in html
    assert "Items in 9" in text_of(html)  # I too, on 9 March
    assert "one point a day" in html


def test_it_refuses_a_period_it_does_not_know(senior_client: Client):
    response = senior_client.get("/reports/operations/?period=1y")
    assert response.status_code == 400
    assert "“1y” is not a period; choose one of 24h, 7d, 30d." in response.content.decode()
    assert "Download CSV" not in response.content.decode()
    csv_response = senior_client.get("/reports/operations.csv?period=1y")
    assert csv_response.status_code == 400


def test_the_csv_has_one_value_a_row(data: Any, senior_client: Client):
    response = senior_client.get("/reports/operations.csv")
    assert response["Content-Type"].startswith("text/csv")
    assert (
        'filename="modqueue-operations-24h-2026-03-10T1300Z.csv"' in response["Content-Disposition"]
    )
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["figure", "queue", "reviewer", "bucket_start", "value"]
    assert ["period_start", "", "", "2026-03-09T13:00:00Z", ""] in rows
    assert ["to_decision_p90_seconds", "", "", "", "25560"] in rows
    assert ["reviewer_decisions", "", "carol", "", "2"] in rows
    assert ["delivery_success_rate", "", "", "", "0.75"] in rows


def test_the_csv_defuses_a_reviewer_name_a_spreadsheet_would_run(data: Any, senior_client: Client):
    data.bob.username = "=HYPERLINK(1)"
    data.bob.save()
    rows = list(
        csv.reader(io.StringIO(senior_client.get("/reports/operations.csv").content.decode()))
    )
    assert ["reviewer_decisions", "", "'=HYPERLINK(1)", "", "4"] in rows


# --- Snapshots (issue 12) -------------------------------------------------------------------


def clock(monkeypatch: pytest.MonkeyPatch, now: datetime) -> None:
    monkeypatch.setattr(operations_view, "timezone", SimpleNamespace(now=lambda: now))


def freshness(html: str) -> str:
    match = re.search(r'<p class="ops-freshness">(.*?)</p>', html, re.S)
    assert match, "no freshness line"
    return text_of(match[1])


def test_the_page_shows_the_snapshot_and_when_it_was_computed(
    data: Any,
    senior_client: Client,
    monkeypatch: pytest.MonkeyPatch,
    django_assert_max_num_queries: Any,
):
    snapshots_refresh(NOW)  # the workers' sweep, at 12:30
    FlaggedItemFactory(received_at=at(12, 20), queued_at=at(12, 20))  # a ninth item since
    clock(monkeypatch, NOW + timedelta(seconds=40))
    senior_client.get("/reports/operations/")  # the session and the user, read once
    # The session, the user with their role, the snapshot, the queues' targets and newest
    # sample of each of the four queues (the "now" figures, read live), the navigation's
    # counts: none of the period's decisions.
    with django_assert_max_num_queries(9):
        html = page_of(senior_client.get("/reports/operations/"))
    assert "Items in 8 " in text_of(html)  # the snapshot's, not the 9 there are now
    assert freshness(html) == (
        "Figures as of 10 Mar 12:30 UTC (40 s ago); the workers refresh them every minute."
    )
    assert 'datetime="2026-03-10T12:30:00+00:00"' in html


def test_the_page_says_when_the_workers_are_late(
    data: Any, senior_client: Client, monkeypatch: pytest.MonkeyPatch
):
    snapshots_refresh(NOW)
    snapshots_refresh(NOW)  # 7 days
    clock(monkeypatch, NOW + timedelta(minutes=11))  # refreshed every 5 minutes
    html = page_of(senior_client.get("/reports/operations/?period=7d"))
    assert freshness(html) == (
        "Figures as of 10 Mar 12:30 UTC (11 min ago); the workers refresh them every 5 minutes. "
        "Later than usual: the workers may be stopped."
    )


def test_a_stale_snapshot_gives_way_to_figures_computed_now(
    data: Any, senior_client: Client, monkeypatch: pytest.MonkeyPatch
):
    snapshots_refresh(NOW)
    FlaggedItemFactory(received_at=at(12, 20), queued_at=at(12, 20))
    clock(monkeypatch, NOW + timedelta(minutes=4))  # no refresh for 4 minutes: workers down
    html = page_of(senior_client.get("/reports/operations/"))
    assert "Items in 9 " in text_of(html)
    assert freshness(html).startswith("Figures as of 10 Mar 12:34 UTC (just now);")
    assert OperationsSnapshot.objects.get(period="24h").computed_at == NOW + timedelta(minutes=4)


def test_the_csv_has_the_snapshots_figures_and_their_time(
    data: Any, senior_client: Client, monkeypatch: pytest.MonkeyPatch
):
    snapshots_refresh(NOW)
    FlaggedItemFactory(received_at=at(12, 20), queued_at=at(12, 20))
    clock(monkeypatch, NOW + timedelta(seconds=40))
    rows = list(
        csv.reader(io.StringIO(senior_client.get("/reports/operations.csv").content.decode()))
    )
    assert ["computed_at", "", "", "2026-03-10T12:30:00Z", ""] in rows
    assert ["intake", "", "", "2026-03-10T12:00:00Z", "1"] in rows  # J; not the new item


def test_the_queues_now_are_read_live_the_rest_from_the_snapshot(
    data: Any, senior_client: Client, monkeypatch: pytest.MonkeyPatch
):
    """A snapshot's "now" figures would be as old as it is (15 minutes at 30 days): the page
    shows each queue's newest sample instead, and dates it."""
    snapshots_refresh(NOW)  # 24 hours
    snapshots_refresh(NOW)  # 7 days, with the data's samples up to 12:29
    before = page_of(senior_client.get("/reports/operations/?period=7d"))
    assert "Queues as sampled at 12:29 UTC." in text_of(before)
    # The data's 12:29 samples: 2 standard and 1 critical waiting, none past the target.
    assert "Waiting now 3 Past target now 0 Items in 9 " in text_of(before)
    # Sampled after the snapshot: 11 waiting, 3 of them past the target.
    QueueSample.objects.create(taken_at=at(12, 33), queue="standard", depth=11, overdue=3)
    FlaggedItemFactory(received_at=at(12, 31), queued_at=at(12, 31))
    clock(monkeypatch, NOW + timedelta(minutes=4))
    html = page_of(senior_client.get("/reports/operations/?period=7d"))
    # Now 11 standard (sampled at 12:33) and the critical one; the items in are still the
    # snapshot's 9, not the 10 there are now.
    assert "Waiting now 12 Past target now 3 Items in 9 " in text_of(html)
    assert "Queues as sampled at 12:33 UTC." in text_of(html)
    assert freshness(html).startswith("Figures as of 10 Mar 12:30 UTC (4 min 00 s ago);")
