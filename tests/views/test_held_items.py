"""/queue/'s "Held items" for seniors and admins, and POST /items/<id>/release/."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from moderation.models import AuditAction, AuditEvent, ItemState, ReviewQueue
from tests.factories import FlaggedItemFactory, GoldItemFactory, UserFactory, page_of, signed_in

pytestmark = pytest.mark.django_db


def held(user, minutes=12, **fields):
    now = timezone.now()
    return FlaggedItemFactory(
        state=ItemState.CLAIMED,
        claimed_by=user,
        claimed_at=now - timedelta(minutes=minutes),
        lease_expires_at=now + timedelta(minutes=3),
        **fields,
    )


def test_seniors_see_who_holds_what_and_since_when(senior_client, reviewer):
    item = held(reviewer)
    page = page_of(senior_client.get("/queue/"))
    assert "Held items" in page
    assert f'href="/items/{item.pk}/"' in page and "rita" in page
    assert "12\xa0minutes ago" in page
    assert item.claimed_at.astimezone(UTC).strftime("%H:%M UTC") in page
    assert "in 2\xa0minutes" in page or "in 3\xa0minutes" in page
    assert f'action="/items/{item.pk}/release/"' in page


def test_admins_see_it_too(admin_client, reviewer):
    held(reviewer)
    assert "Held items" in page_of(admin_client.get("/queue/"))


def test_reviewers_do_not_see_it(reviewer_client, reviewer, senior):
    held(senior)
    mine = held(reviewer, minutes=1)
    page = page_of(reviewer_client.get("/queue/"))
    assert "Held items" not in page and "/release/" not in page
    assert f"You hold item #{mine.pk}" in page


def test_it_lists_oldest_claim_first_and_counts_the_rest(senior_client, reviewer, monkeypatch):
    from moderation.views import queue

    monkeypatch.setattr(queue, "HELD_SHOWN", 2)
    third = held(UserFactory(), minutes=5)
    first = held(reviewer, minutes=30)
    second = held(UserFactory(), minutes=20)
    page = page_of(senior_client.get("/queue/"))
    assert page.index(f"Item {first.pk}<") < page.index(f"Item {second.pk}<")
    assert f"Item {third.pk}<" not in page.split("Held items")[1].split("next-heading")[0]
    assert "and 1 more held item not shown" in page


def test_golden_servings_are_not_listed(senior_client, reviewer):
    gold = held(reviewer, gold=GoldItemFactory())
    page = page_of(senior_client.get("/queue/"))
    assert f"/items/{gold.pk}/release/" not in page
    assert "Nobody holds an item right now." in page


def test_the_section_takes_one_query(senior_client, reviewer):
    held(reviewer)
    senior_client.get("/queue/")  # warm the session and caches
    with CaptureQueriesContext(connection) as one:
        senior_client.get("/queue/")
    held(UserFactory(), minutes=2)
    held(UserFactory(), minutes=3)
    with CaptureQueriesContext(connection) as three:
        senior_client.get("/queue/")
    assert len(three) == len(one)
    held_queries = [
        q for q in three.captured_queries if "claimed_by_id" in q["sql"] and "OVER" in q["sql"]
    ]
    assert len(held_queries) == 1


def test_a_senior_releases_an_item_and_it_is_audited(senior_client, senior, reviewer):
    item = held(reviewer)
    response = senior_client.post(f"/items/{item.pk}/release/", follow=True)
    assert response.redirect_chain == [("/queue/", 302)]
    assert f"Released item #{item.pk}: rita no longer holds it." in page_of(response)
    item.refresh_from_db()
    assert item.state == ItemState.PENDING and item.claimed_by is None
    event = AuditEvent.objects.get(action=AuditAction.ITEM_RELEASE, item=item)
    assert event.actor == senior
    assert event.detail == {"held_by": "rita", "reason": "released by a senior"}


def test_an_escalated_item_goes_back_to_the_escalated_queue(admin_client, senior):
    item = held(senior, queue=ReviewQueue.ESCALATED)
    admin_client.post(f"/items/{item.pk}/release/")
    item.refresh_from_db()
    assert item.state == ItemState.ESCALATED


def test_the_holder_then_gets_the_conflict(client, senior, reviewer):
    item = held(reviewer)
    signed_in(client, senior).post(f"/items/{item.pk}/release/")
    # Rita's page polls the lease: lost.
    rita = signed_in(client.__class__(), reviewer)
    assert rita.post(f"/items/{item.pk}/lease/").status_code == 409
    # Sam takes the item; Rita's decision is refused with the conflict message.
    signed_in(client, senior).post("/queue/next/")
    response = rita.post(f"/items/{item.pk}/decide/", {"verdict": "no_violation"})
    assert response.status_code == 409
    assert "Another reviewer (sam) has held this item since" in response.content.decode()


def test_releasing_an_item_nobody_holds_says_so_and_changes_nothing(senior_client):
    item = FlaggedItemFactory()
    response = senior_client.post(f"/items/{item.pk}/release/", follow=True)
    assert f"Item #{item.pk} is no longer held by anyone: nothing changed." in page_of(response)
    item.refresh_from_db()
    assert item.state == ItemState.PENDING
    assert not AuditEvent.objects.filter(action=AuditAction.ITEM_RELEASE).exists()


def test_reviewers_may_not_release(reviewer_client, senior):
    item = held(senior)
    assert reviewer_client.post(f"/items/{item.pk}/release/").status_code == 403
    item.refresh_from_db()
    assert item.state == ItemState.CLAIMED and item.claimed_by == senior
