"""Blind second review on the item page (issue 10): the second reviewer sees a fresh item, and
the first reviewer cannot decide it again (409)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from accounts.roles import Role
from moderation.models import (
    FlaggedItem,
    PolicyCategory,
    QualitySettings,
    SecondReview,
    SecondReviewState,
)
from tests.factories import FlaggedItemFactory, UserFactory, page_of, signed_in

pytestmark = pytest.mark.django_db

NOTE = "rita-first-note-7f3a"


@pytest.fixture
def sampled(reviewer_client: Client) -> FlaggedItem:
    """rita decided an item Violation (Hate) with a note, sampled for a second review."""
    QualitySettings.objects.update_or_create(pk=1, defaults={"second_review_percent": Decimal(100)})
    item = FlaggedItemFactory(priority=9)
    reviewer_client.post("/queue/next/")
    hate = PolicyCategory.objects.get(slug="hate")
    response = reviewer_client.post(
        f"/items/{item.pk}/decide/", {"verdict": "violation", "categories": [hate.pk], "note": NOTE}
    )
    assert response.status_code == 302
    assert SecondReview.objects.get(item=item).state == SecondReviewState.PENDING
    return item


def assert_blind(page: str) -> None:
    assert 'id="decision"' in page  # the decision form, as on any fresh item
    assert "rita" not in page and NOTE not in page
    assert 'class="panel decisions"' not in page and "decision-entry" not in page
    assert 'id="overturn"' not in page and "/undo/" not in page
    assert "verdict-violation" not in page and "tag-final" not in page


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.SENIOR])
def test_the_second_reviewer_sees_a_fresh_item(sampled, role):
    second = signed_in(Client(), UserFactory(username="noor", role=role))
    response = second.post("/queue/next/")
    assert response["Location"] == f"/items/{sampled.pk}/"
    assert_blind(page_of(second.get(f"/items/{sampled.pk}/")))


def test_the_first_reviewer_deciding_again_gets_a_409(sampled, reviewer_client):
    response = reviewer_client.post(f"/items/{sampled.pk}/decide/", {"verdict": "no_violation"})
    assert response.status_code == 409
    assert "a second reviewer decides it blind" in response.content.decode()
    assert SecondReview.objects.get(item=sampled).state == SecondReviewState.PENDING


def test_the_first_reviewers_review_next_does_not_serve_it(sampled, reviewer_client):
    response = reviewer_client.post("/queue/next/")
    assert response["Location"] != f"/items/{sampled.pk}/"
