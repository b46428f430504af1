"""A review session (CONTRACT §8 v2): after any decision or skip the next item comes from the
queue the reviewer chose with "Review next" (every queue they may review when they chose
none), and "Queue empty" appears only when none of those queues holds an item for them."""

from __future__ import annotations

import pytest

from moderation.models import (
    AuditAction,
    AuditEvent,
    Decision,
    FlaggedItem,
    ItemState,
    PolicyCategory,
    ReviewQueue,
)
from tests.factories import FlaggedItemFactory

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def review_next(client, queue: str = "") -> int:
    response = client.post("/queue/next/", {"queue": queue} if queue else {})
    assert response.status_code == 302 and response["Location"].startswith("/items/")
    return int(response["Location"].split("/")[2])


def post_verdict(client, pk: int, verdict: str = "no_violation", **data) -> object:
    return client.post(f"/items/{pk}/decide/", {"verdict": verdict, **data}, headers=HTMX)


def shown(response) -> int | None:
    """The item an htmx answer put in place, or None for "Queue empty"."""
    if "Queue empty" in response.content.decode():
        assert response["HX-Push-Url"].startswith("/queue/")
        return None
    return int(response["HX-Push-Url"].split("/")[2])


def test_on_all_queues_the_next_item_comes_from_any_queue_not_the_decided_ones(reviewer_client):
    critical = FlaggedItemFactory(queue=ReviewQueue.CRITICAL, priority=4000)
    standard = FlaggedItemFactory(queue=ReviewQueue.STANDARD, priority=10)
    audit = FlaggedItemFactory(queue=ReviewQueue.AUDIT, priority=5)
    assert review_next(reviewer_client) == critical.pk
    assert shown(post_verdict(reviewer_client, critical.pk)) == standard.pk
    assert shown(post_verdict(reviewer_client, standard.pk)) == audit.pk
    assert shown(post_verdict(reviewer_client, audit.pk)) is None


def test_a_plain_post_moves_on_within_the_chosen_queues_too(reviewer_client):
    critical = FlaggedItemFactory(queue=ReviewQueue.CRITICAL, priority=4000)
    standard = FlaggedItemFactory(queue=ReviewQueue.STANDARD, priority=10)
    review_next(reviewer_client)
    response = reviewer_client.post(f"/items/{critical.pk}/decide/", {"verdict": "no_violation"})
    assert response["Location"] == f"/items/{standard.pk}/"


def test_a_reviewer_who_chose_one_queue_stays_in_it(reviewer_client):
    FlaggedItemFactory(queue=ReviewQueue.CRITICAL, priority=4000)
    first = FlaggedItemFactory(queue=ReviewQueue.STANDARD, priority=20)
    second = FlaggedItemFactory(queue=ReviewQueue.STANDARD, priority=10)
    assert review_next(reviewer_client, "standard") == first.pk
    assert shown(post_verdict(reviewer_client, first.pk)) == second.pk
    response = post_verdict(reviewer_client, second.pk)
    assert shown(response) is None
    # The empty partial's "Review next" keeps to the same queue.
    assert 'name="queue" value="standard"' in response.content.decode()


def test_a_senior_working_the_escalated_queue_stays_in_it(senior_client, reviewer):
    FlaggedItemFactory(queue=ReviewQueue.CRITICAL, priority=4000)
    first = FlaggedItemFactory(queue=ReviewQueue.ESCALATED, state=ItemState.ESCALATED, priority=2)
    second = FlaggedItemFactory(queue=ReviewQueue.ESCALATED, state=ItemState.ESCALATED, priority=1)
    assert review_next(senior_client, "escalated") == first.pk
    assert shown(post_verdict(senior_client, first.pk)) == second.pk
    assert shown(post_verdict(senior_client, second.pk, "skip")) == second.pk, (
        "nothing else waits there"
    )


def test_skipping_everything_never_ends_in_a_false_queue_empty(reviewer_client):
    items = [FlaggedItemFactory(priority=p) for p in (30, 20, 10)]
    pk = review_next(reviewer_client)
    seen = []
    for _ in range(7):
        seen.append(pk)
        response = post_verdict(reviewer_client, pk, "skip")
        following = shown(response)
        assert following is not None, "items still wait"
        assert following != pk, "never the item just skipped while others wait"
        pk = following
    assert set(seen) == {i.pk for i in items}
    assert not Decision.objects.exists()
    # Offered again, and it says why.
    assert "You skipped this item earlier" in response.content.decode()


def test_an_item_opened_by_its_link_after_a_skip_is_not_said_to_be_offered_again(reviewer_client):
    skipped, other = FlaggedItemFactory(priority=9), FlaggedItemFactory(priority=1)
    review_next(reviewer_client)
    post_verdict(reviewer_client, skipped.pk, "skip")
    post_verdict(reviewer_client, other.pk, "skip")
    assert (
        "You skipped this item earlier"
        not in reviewer_client.get(f"/items/{other.pk}/").content.decode()
    )


def test_queue_empty_is_true_when_nothing_waits_in_the_chosen_queues(reviewer_client):
    only = FlaggedItemFactory(queue=ReviewQueue.STANDARD)
    review_next(reviewer_client, "standard")
    assert shown(post_verdict(reviewer_client, only.pk)) is None
    assert not FlaggedItem.objects.filter(state__in=[ItemState.PENDING]).exists()


def test_review_next_on_a_filtered_queue_opens_the_held_item_and_records_no_skip(
    reviewer_client, reviewer
):
    held = FlaggedItemFactory(queue=ReviewQueue.STANDARD)
    FlaggedItemFactory(queue=ReviewQueue.CRITICAL, priority=4000)
    assert review_next(reviewer_client, "standard") == held.pk
    page = reviewer_client.get("/queue/?queue=critical").content.decode()
    assert f"You hold item #{held.pk}" in page
    assert review_next(reviewer_client, "critical") == held.pk
    held.refresh_from_db()
    assert held.claimed_by == reviewer
    assert not AuditEvent.objects.filter(action=AuditAction.ITEM_SKIP).exists()


def test_a_decision_on_an_item_opened_from_the_list_moves_on_in_the_chosen_queue(reviewer_client):
    chosen = FlaggedItemFactory(queue=ReviewQueue.STANDARD, priority=1)
    opened = FlaggedItemFactory(queue=ReviewQueue.CRITICAL, priority=5)
    FlaggedItemFactory(queue=ReviewQueue.CRITICAL, priority=9)
    review_next(reviewer_client, "standard")
    # The reviewer gives back what they hold by deciding it, then opens a critical item by
    # its link and decides it: the next one is still from the queue they chose.
    post_verdict(reviewer_client, chosen.pk)
    later = FlaggedItemFactory(queue=ReviewQueue.STANDARD, priority=0)
    violence = PolicyCategory.objects.get(slug="violence")
    response = post_verdict(reviewer_client, opened.pk, "violation", categories=[violence.pk])
    assert shown(response) == later.pk
