"""Golden items in the review console (issue 10): they look like any item, and after a wrong
answer the next page, whatever it is, tells the reviewer the expected answer once."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

from moderation.models import (
    GOLD_SUBJECT_HASH,
    FlaggedItem,
    ItemState,
    QualitySettings,
    Verdict,
)
from moderation.services import gold_serving
from tests.factories import (
    FlaggedItemFactory,
    GoldItemFactory,
    GoldSetFactory,
    SignalFactory,
    category,
)

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
FEEDBACK = "The last item was a check with a known answer."
NOTE = "A threat against a named person is a violation of Violence."


@pytest.fixture(autouse=True)
def _all_gold(acme: Any) -> None:
    """Every claim that finds a real item serves gold while gold is left."""
    gold_serving.rng.seed(10)
    QualitySettings.objects.update_or_create(pk=1, defaults={"gold_percent": Decimal(100)})


def gold(acme: Any, **kwargs: Any) -> Any:
    return GoldItemFactory(organization=acme, note=NOTE, **kwargs)


def real_items(n: int) -> list[FlaggedItem]:
    items = []
    for priority in range(n, 0, -1):
        item = FlaggedItemFactory(priority=priority * 100)
        SignalFactory(item=item)
        items.append(item)
    return items


def review_next(client: Any) -> FlaggedItem:
    response = client.post("/queue/next/")
    assert response.status_code == 302 and response["Location"].startswith("/items/")
    return FlaggedItem.objects.get(pk=int(response["Location"].split("/")[2]))


def decide(client: Any, item: FlaggedItem, verdict: str, *slugs: str, htmx: bool = True) -> Any:
    data: dict[str, Any] = {"verdict": verdict, "note": "unsure" if verdict == "escalate" else ""}
    data["categories"] = [str(category(s).pk) for s in slugs]
    return client.post(f"/items/{item.pk}/decide/", data, headers=HTMX if htmx else {})


def test_a_served_gold_item_looks_like_any_item(reviewer_client, acme):
    gold(acme)
    real_items(1)
    item = review_next(reviewer_client)
    assert item.gold_id is not None
    page = reviewer_client.get(f"/items/{item.pk}/").content.decode()
    assert "gold" not in page.lower()
    assert item.prompt in page
    # The same decision form and keys as every item.
    for key in ('data-key="v"', 'data-key="n"', 'data-key="e"', 'data-key="s"'):
        assert key in page
    assert f'hx-post="/items/{item.pk}/lease/"' in page
    # The user panel shows a user of its own, no link to the reserved subject, no history.
    assert f"/subjects/acme/{GOLD_SUBJECT_HASH}/" not in page
    assert "No other items from this user." in page


def test_the_htmx_partial_of_a_served_gold_item_says_nothing_either(reviewer_client, acme):
    gold(acme)
    first, _ = real_items(2)
    GoldItemFactory(organization=acme)
    FlaggedItem.objects.filter(pk=first.pk).update(priority=1)
    item = review_next(reviewer_client)
    response = decide(reviewer_client, item, "violation", "violence")
    served = FlaggedItem.objects.get(pk=int(response["HX-Push-Url"].split("/")[2]))
    assert served.gold_id is not None
    assert "gold" not in response.content.decode().lower()


def test_a_wrong_answer_shows_the_expected_answer_on_the_next_item_once(reviewer_client, acme):
    gold(acme, expected_categories=["violence", "hate"])
    first, second = real_items(2)
    item = review_next(reviewer_client)
    assert item.gold_id is not None
    response = decide(reviewer_client, item, "no_violation")
    page = response.content.decode()
    # The next item, a real one (no other gold left for this reviewer), with the feedback.
    assert response["HX-Push-Url"] == f"/items/{first.pk}/"
    assert FEEDBACK in page and 'role="status"' in page
    assert "Expected: <strong>Violation</strong> (Violence, Hate)." in page
    assert NOTE in page
    # Once: the next page no longer shows it.
    again = decide(reviewer_client, first, "no_violation").content.decode()
    assert FEEDBACK not in again
    assert FEEDBACK not in reviewer_client.get(f"/items/{second.pk}/").content.decode()


def test_other_categories_are_a_wrong_answer(reviewer_client, acme):
    gold(acme)
    real_items(1)
    item = review_next(reviewer_client)
    page = decide(reviewer_client, item, "violation", "violence", "hate").content.decode()
    assert FEEDBACK in page


def test_a_right_answer_shows_nothing(reviewer_client, acme):
    gold(acme)
    real_items(1)
    item = review_next(reviewer_client)
    page = decide(reviewer_client, item, "violation", "violence").content.decode()
    assert FEEDBACK not in page and NOTE not in page


def test_a_right_no_violation_shows_nothing(reviewer_client, acme):
    gold(acme, expected_verdict=Verdict.NO_VIOLATION)
    real_items(1)
    item = review_next(reviewer_client)
    assert FEEDBACK not in decide(reviewer_client, item, "no_violation").content.decode()


def test_an_escalation_of_gold_is_wrong_and_retires_it(reviewer_client, acme):
    gold(acme)
    real_items(1)
    item = review_next(reviewer_client)
    page = decide(reviewer_client, item, "escalate").content.decode()
    assert FEEDBACK in page
    item.refresh_from_db()
    assert item.state == ItemState.RETIRED


def test_no_feedback_when_the_gold_set_has_it_off(reviewer_client, acme):
    gold(acme, gold_set=GoldSetFactory(feedback=False))
    real_items(1)
    item = review_next(reviewer_client)
    page = decide(reviewer_client, item, "no_violation").content.decode()
    assert FEEDBACK not in page and NOTE not in page


def test_the_feedback_comes_with_queue_empty_too(reviewer_client, acme):
    gold(acme)
    (only,) = real_items(1)
    item = review_next(reviewer_client)
    # The real item is decided meanwhile by someone else: nothing is left after the gold.
    FlaggedItem.objects.filter(pk=only.pk).update(state=ItemState.DECIDED)
    response = decide(reviewer_client, item, "no_violation")
    page = response.content.decode()
    assert "Queue empty" in page and FEEDBACK in page and NOTE in page


def test_without_javascript_the_next_page_shows_it(reviewer_client, acme):
    gold(acme)
    (first,) = real_items(1)
    item = review_next(reviewer_client)
    response = decide(reviewer_client, item, "no_violation", htmx=False)
    assert response["Location"] == f"/items/{first.pk}/"
    page = reviewer_client.get(response["Location"]).content.decode()
    assert FEEDBACK in page and NOTE in page
    assert FEEDBACK not in reviewer_client.get(response["Location"]).content.decode()


def test_without_javascript_the_queue_page_shows_it_when_nothing_is_left(reviewer_client, acme):
    gold(acme)
    (only,) = real_items(1)
    item = review_next(reviewer_client)
    FlaggedItem.objects.filter(pk=only.pk).update(state=ItemState.DECIDED)
    response = decide(reviewer_client, item, "no_violation", htmx=False)
    assert response["Location"].startswith("/queue/")
    page = reviewer_client.get(response["Location"]).content.decode()
    assert "Queue empty" in page and FEEDBACK in page


def test_skipping_gold_retires_it_and_serves_the_real_item(reviewer_client, acme):
    gold(acme)
    (first,) = real_items(1)
    item = review_next(reviewer_client)
    response = reviewer_client.post(f"/items/{item.pk}/decide/", {"verdict": "skip"}, headers=HTMX)
    assert response["HX-Push-Url"] == f"/items/{first.pk}/"
    item.refresh_from_db()
    assert item.state == ItemState.RETIRED
    assert FEEDBACK not in response.content.decode()


def test_undo_of_a_gold_decision_gives_it_back(reviewer_client, acme):
    gold(acme)
    (first,) = real_items(1)
    item = review_next(reviewer_client)
    decide(reviewer_client, item, "violation", "violence")
    response = reviewer_client.post(f"/items/{item.pk}/undo/", headers=HTMX)
    assert response["HX-Push-Url"] == f"/items/{item.pk}/"
    item.refresh_from_db()
    first.refresh_from_db()
    assert item.state == ItemState.CLAIMED and first.state == ItemState.PENDING
    assert "gold" not in response.content.decode().lower()


def test_other_reviewers_do_not_see_a_served_gold_item_on_the_queue_page(
    reviewer_client, senior, acme
):
    gold(acme)
    (first,) = real_items(1)
    item = review_next(reviewer_client)
    page = reviewer_client.get("/queue/").content.decode()
    assert f"You hold item #{item.pk}" in page
    assert f"/items/{item.pk}/" not in page.replace(f"You hold item #{item.pk}", "")
    reviewer_client.force_login(senior)
    page = reviewer_client.get("/queue/").content.decode()
    assert f"Item {item.pk}<" not in page and f"/items/{first.pk}/" in page


def test_a_served_gold_item_renews_its_lease_like_any(reviewer_client, acme):
    gold(acme)
    real_items(1)
    item = review_next(reviewer_client)
    before = item.lease_expires_at
    assert reviewer_client.post(f"/items/{item.pk}/lease/", headers=HTMX).status_code == 204
    item.refresh_from_db()
    assert item.gold_id is not None and item.lease_expires_at >= before


def user_link(page: str) -> str:
    match = re.search(r'href="(/subjects/[^"]+/)"', page)
    assert match, "no user link"
    return match[1]


@pytest.mark.parametrize("decided", [False, True])
def test_the_user_link_of_a_served_gold_item_leads_to_a_new_users_page(
    reviewer_client, acme, decided
):
    gold(acme)
    real_items(1)
    item = review_next(reviewer_client)
    link = user_link(reviewer_client.get(f"/items/{item.pk}/").content.decode())
    assert GOLD_SUBJECT_HASH not in link and re.search(r"/[0-9a-f]{64}/$", link)
    if decided:
        decide(reviewer_client, item, "no_violation")
    response = reviewer_client.get(link)
    assert response.status_code == 200
    page = response.content.decode()
    assert f"/items/{item.pk}/" in page and "gold" not in page.lower()
    assert re.findall(r"/items/\d+/", page) == [f"/items/{item.pk}/"]


def test_nobody_else_finds_the_stand_in_user(reviewer_client, senior, acme):
    gold(acme)
    real_items(1)
    item = review_next(reviewer_client)
    link = user_link(reviewer_client.get(f"/items/{item.pk}/").content.decode())
    reviewer_client.force_login(senior)
    assert reviewer_client.get(link).status_code == 404
    assert reviewer_client.get(f"/subjects/acme/{'0' * 64}/").status_code == 404
