"""The navigation's counts (CONTRACT §8 v2): what waits for a senior or admin, on the links
"Queue", "Enforcement" and "Appeals", refreshed by htmx every 30 s from /nav/counts/."""

from __future__ import annotations

import re
from typing import Any

import pytest

from moderation.models import Appeal, Delivery, DeliveryStatus, ItemState, ReviewQueue
from moderation.selectors import nav_counts
from tests.factories import FlaggedItemFactory, SecondReviewFactory, SubjectFactory, reach_proposal

pytestmark = pytest.mark.django_db


@pytest.fixture
def waiting(reviewer: Any) -> None:
    """Two escalated items (one a second-review disagreement), one proposed removal, one open
    appeal and one failed delivery; and a pending item and a decided appeal, counted nowhere."""
    FlaggedItemFactory(state=ItemState.ESCALATED, queue=ReviewQueue.ESCALATED)
    SecondReviewFactory(disagreed=True)
    FlaggedItemFactory()
    subject: Any = SubjectFactory()
    proposal = reach_proposal(subject, reviewer)
    Appeal.objects.create(action=proposal, message="I was quoting a novel.")
    Appeal.objects.create(action=proposal, message="Again.", state="upheld")
    Delivery.objects.create(
        action=proposal,
        organization=subject.organization,
        webhook_id="msg_nav_failed",
        url="http://127.0.0.1:1/refused",
        payload={},
        status=DeliveryStatus.FAILED,
    )


def badge(page: str, key: str) -> str:
    """What a screen reader hears of the count's badge in the page ("" when there is none)."""
    found = re.search(
        rf'<span id="nav-count-{key}"[^>]*>(.*?)</span>\s*(?:</a>|<span id|$)', page, re.S
    )
    assert found, f"no nav-count-{key} in the page"
    heard = re.search(r'<span class="visually-hidden">(.*?)</span>', found.group(1))
    return heard.group(1) if heard else ""


def test_a_reviewer_sees_no_counts_and_costs_no_query(
    reviewer_client, reviewer, waiting, django_assert_num_queries
):
    page = reviewer_client.get("/queue/").content.decode()
    assert "nav-count" not in page and "/nav/counts/" not in page
    with django_assert_num_queries(0):
        assert nav_counts(reviewer) == {}


def test_a_senior_sees_escalations_proposals_and_appeals_but_not_deliveries(senior_client, waiting):
    page = senior_client.get("/queue/").content.decode()
    assert badge(page, "escalated") == "(2 escalated items, 1 from a second-review disagreement)"
    assert badge(page, "proposed") == "(1 proposed removal)"
    assert badge(page, "appeals") == "(1 open appeal)"
    assert "nav-count-failed-deliveries" not in page
    # The link still reads "Enforcement" first, its count after (CONTRACT §8 v2).
    assert re.search(r'href="/enforcement/"[^>]*>Enforcement\s*<span id="nav-count-proposed"', page)
    assert 'hx-get="/nav/counts/" hx-trigger="every 30s"' in page


def test_an_admin_also_sees_failed_deliveries(admin_client, waiting):
    page = admin_client.get("/queue/").content.decode()
    assert badge(page, "failed-deliveries") == "(1 failed delivery)"
    assert badge(page, "proposed") == "(1 proposed removal)"


def test_nothing_waiting_shows_no_badge(admin_client):
    page = admin_client.get("/queue/").content.decode()
    for key in ("escalated", "proposed", "appeals", "failed-deliveries"):
        assert badge(page, key) == ""


def test_the_counts_are_one_query(admin_user, waiting, django_assert_num_queries):
    with django_assert_num_queries(1):
        counts = nav_counts(admin_user)
    assert counts == {
        "escalated": 2,
        "disagreements": 1,
        "proposed": 1,
        "appeals": 1,
        "failed_deliveries": 1,
    }


def test_the_refresh_answers_the_badges_out_of_band(admin_client, waiting):
    response = admin_client.get("/nav/counts/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    assert "<nav" not in body
    for key in ("escalated", "proposed", "appeals", "failed-deliveries"):
        assert re.search(rf'<span id="nav-count-{key}"[^>]*hx-swap-oob="true"', body)
    assert badge(body, "appeals") == "(1 open appeal)"


def test_the_refresh_gives_a_reviewer_nothing(reviewer_client, waiting):
    response = reviewer_client.get("/nav/counts/")
    assert response.status_code == 200
    assert "nav-count" not in response.content.decode()
