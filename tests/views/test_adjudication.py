"""A disagreement of a blind second review on the item page and the queue: both answers for
the senior who settles it, the decision form without Escalate, nothing for reviewers."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.roles import Role
from moderation.models import (
    FlaggedItem,
    ItemState,
    PolicyCategory,
    ReviewQueue,
    SecondReview,
    SecondReviewState,
)
from moderation.services import claims
from moderation.services.review import decision_record
from tests.factories import FlaggedItemFactory, SecondReviewFactory, UserFactory, signed_in

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


@pytest.fixture
def vic() -> Any:
    return UserFactory(username="vic", role=Role.REVIEWER)


@pytest.fixture
def disagreement(reviewer: Any, vic: Any) -> SecondReview:
    """rita (the `reviewer`) decided a violation of violence; vic said no violation, blind."""
    review: Any = SecondReviewFactory(
        disagreed=True,
        first_reviewer=reviewer,
        first_note="A direct threat.",
        reviewer=vic,
        note="Quoting a film.",
    )
    return review


def violence() -> PolicyCategory:
    return PolicyCategory.objects.get(slug="violence")


def test_a_senior_sees_both_answers(senior_client: Client, disagreement: SecondReview) -> None:
    page = senior_client.get(f"/items/{disagreement.item_id}/").content.decode()

    assert '<h2 id="disagreement-h">Disagreement</h2>' in page
    assert 'class="tag tag-disagreement">Disagreement</span>' in page  # in the header
    assert "First reviewer: rita" in page and "Second reviewer: vic" in page
    assert "A direct threat." in page and "Quoting a film." in page
    first, second = page.split("answer-second-h", 1)
    assert "verdict-violation" in first.split("answer-first-h", 1)[1] and "Violence" in first
    assert "verdict-no_violation" in second
    # The decision form, as for any item, without Escalate.
    assert 'value="violation"' in page and 'value="no_violation"' in page
    assert 'value="escalate"' not in page and "<kbd>E</kbd>" not in page


def test_a_second_answer_that_escalated_shows_as_such(senior_client: Client, reviewer: Any) -> None:
    # The second reviewer escalated: no verdict, a note (services/second_review.py).
    review: Any = SecondReviewFactory(
        disagreed=True, first_reviewer=reviewer, verdict="", note="Not sure at all."
    )
    page = senior_client.get(f"/items/{review.item_id}/").content.decode()
    second = page.split("answer-second-h", 1)[1]
    assert (
        'class="verdict verdict-escalate">Escalate</span> <span class="muted">(no verdict)'
        in second
    )
    assert "Not sure at all." in second


def test_an_ordinary_escalation_has_no_disagreement(senior_client: Client, reviewer: Any) -> None:
    item: Any = FlaggedItemFactory()
    decision_record(item=item, reviewer=reviewer, verdict="escalate", categories=[], note="unsure")  # type: ignore[arg-type]
    page = senior_client.get(f"/items/{item.pk}/").content.decode()
    assert "Disagreement" not in page and "Escalated by rita" in page


@pytest.mark.parametrize("who", ["rita", "vic", "other"])
def test_reviewers_never_see_it(client: Client, disagreement: SecondReview, who: str) -> None:
    user: Any = UserFactory(username=who, role=Role.REVIEWER)
    signed_in(client, user)

    assert client.get(f"/items/{disagreement.item_id}/").status_code == 403
    response = client.post(f"/items/{disagreement.item_id}/decide/", {"verdict": "no_violation"})
    assert response.status_code == 403
    queue = client.get("/queue/").content.decode()
    assert "Disagreement" not in queue and f"Item {disagreement.item_id}<" not in queue
    assert claims.claim_next(user=user) is None


def test_one_of_the_two_made_senior_is_refused(
    client: Client, disagreement: SecondReview, reviewer: Any
) -> None:
    UserFactory(username="rita", role=Role.SENIOR)
    signed_in(client, type(reviewer).objects.get(pk=reviewer.pk))

    page = client.get(f"/items/{disagreement.item_id}/").content.decode()
    assert "another senior or admin settles it" in page
    assert 'value="no_violation"' not in page  # no buttons

    response = client.post(f"/items/{disagreement.item_id}/decide/", {"verdict": "no_violation"})
    assert response.status_code == 409
    assert "another senior or admin settles it" in response.content.decode()
    disagreement.refresh_from_db()
    assert disagreement.state == SecondReviewState.DISAGREED


def test_escalating_is_refused(senior_client: Client, disagreement: SecondReview) -> None:
    response = senior_client.post(
        f"/items/{disagreement.item_id}/decide/", {"verdict": "escalate", "note": "no idea"}
    )
    assert response.status_code == 422
    assert "A disagreement is settled here: choose Violation or No violation." in (
        response.content.decode()
    )


def test_the_senior_settles_it_and_gets_the_next_item_in_place(
    senior_client: Client, senior: Any, disagreement: SecondReview, reviewer: Any
) -> None:
    after: Any = FlaggedItemFactory(prompt="the next escalation")
    decision_record(item=after, reviewer=reviewer, verdict="escalate", categories=[], note="hm")  # type: ignore[arg-type]
    FlaggedItem.objects.filter(pk=after.pk).update(priority=-1)
    held = claims.claim_next(user=senior, queue=ReviewQueue.ESCALATED)
    assert held is not None and held.pk == disagreement.item_id

    response = senior_client.post(
        f"/items/{disagreement.item_id}/decide/",
        {"verdict": "violation", "categories": [violence().pk], "note": "A threat."},
        headers=HTMX,
    )

    assert response.status_code == 200
    assert "the next escalation" in response.content.decode()
    assert response["HX-Push-Url"] == f"/items/{after.pk}/"
    disagreement.refresh_from_db()
    assert disagreement.state == SecondReviewState.ADJUDICATED
    assert disagreement.adjudication is not None
    assert disagreement.adjudication.reviewer == senior
    assert FlaggedItem.objects.get(pk=disagreement.item_id).state == ItemState.DECIDED


def test_the_queue_marks_it(
    senior_client: Client, disagreement: SecondReview, reviewer: Any
) -> None:
    plain: Any = FlaggedItemFactory()
    decision_record(item=plain, reviewer=reviewer, verdict="escalate", categories=[], note="hm")  # type: ignore[arg-type]

    page = senior_client.get("/queue/?queue=escalated").content.decode()

    rows = {
        pk: row.split("</tr>", 1)[0]
        for pk in (disagreement.item_id, plain.pk)
        for row in [page.split(f">Item {pk}</a>", 1)[1]]
    }
    assert 'class="tag tag-disagreement">Disagreement</span>' in rows[disagreement.item_id]
    assert "Disagreement" not in rows[plain.pk]
