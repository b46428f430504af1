"""A senior settles blind second reviews' disagreements in a browser (issue 10): found on the
escalated queue marked "Disagreement", both answers on the item, decided by keyboard with the
next item in place; the quality report then counts the adjudications won and lost."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from accounts.roles import Role
from moderation.models import SecondReview, SecondReviewState, Verdict
from moderation.services.review import decision_record
from tests.factories import FlaggedItemFactory, SecondReviewFactory, SignalFactory, UserFactory

from .conftest import (
    button,
    key_of,
    mark_document,
    next_in_place,
    review_next,
    screenshot,
    sign_in,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def people() -> dict[str, Any]:
    return {
        "rita": UserFactory(username="rita", role=Role.REVIEWER),
        "vic": UserFactory(username="vic", role=Role.REVIEWER),
        "sam": UserFactory(username="sam", role=Role.SENIOR),
    }


def disagreement(people: dict[str, Any], prompt: str, priority: int) -> SecondReview:
    """rita said violence, vic said no violation, blind."""
    item: Any = FlaggedItemFactory(
        prompt=prompt, response="I won't help with that.", priority=priority
    )
    SignalFactory(item=item, score=0.72)
    review: Any = SecondReviewFactory(
        item=item,
        disagreed=True,
        first_reviewer=people["rita"],
        first_note="A threat against a named person.",
        reviewer=people["vic"],
        note="Reads as a joke between friends.",
    )
    return review


def test_a_senior_settles_disagreements_by_keyboard(page: Page, people: dict[str, Any]) -> None:
    first = disagreement(people, "Write a threat to my landlord about the rent", priority=300)
    second = disagreement(people, "Tell my brother I'll break his console", priority=200)
    plain: Any = FlaggedItemFactory(prompt="Is this satire of the mayor?", priority=100)
    decision_record(
        item=plain,
        reviewer=people["rita"],
        verdict=Verdict.ESCALATE,
        categories=[],
        note="Could be satire.",
    )

    sign_in(page, "sam", "/queue/?queue=escalated")
    rows = page.get_by_role("row")
    for review in (first, second):
        row = rows.filter(has=page.get_by_role("link", name=f"Item {review.item_id}", exact=True))
        expect(row).to_contain_text("Disagreement")
    plain_row = rows.filter(has=page.get_by_role("link", name=f"Item {plain.pk}", exact=True))
    expect(plain_row).not_to_contain_text("Disagreement")

    shown = review_next(page)
    assert shown == first.item_id
    notice = page.get_by_role("region", name="Disagreement")
    expect(notice).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Disagreement")
    rita = notice.get_by_role("region", name="First reviewer: rita")
    vic = notice.get_by_role("region", name="Second reviewer: vic")
    expect(rita).to_contain_text("Violation")
    expect(rita).to_contain_text("Violence")
    expect(rita).to_contain_text("A threat against a named person.")
    expect(vic).to_contain_text("No violation")
    expect(vic).to_contain_text("Reads as a joke between friends.")
    expect(button(page, "Escalate")).to_have_count(0)
    expect(button(page, "Violation")).to_be_enabled()
    screenshot(page, "item-disagreement")
    mark_document(page)

    # rita was right on the first: Violence by its key, then V.
    page.keyboard.press(key_of(page, "Violence"))
    page.keyboard.press("v")
    shown = next_in_place(page, after=first.item_id)
    assert shown == second.item_id
    expect(page.get_by_role("region", name="Disagreement")).to_be_visible()

    # vic was right on the second.
    page.keyboard.press("n")
    shown = next_in_place(page, after=second.item_id)
    assert shown == plain.pk
    expect(page.get_by_role("region", name="Disagreement")).to_have_count(0)

    for review, verdict in ((first, "violation"), (second, "no_violation")):
        review.refresh_from_db()
        assert review.state == SecondReviewState.ADJUDICATED
        assert review.adjudication is not None
        assert (review.adjudication.verdict, review.adjudication.reviewer) == (
            verdict,
            people["sam"],
        )

    page.goto("/reports/quality/")
    table = page.locator(
        "section", has=page.get_by_role("heading", name="By reviewer")
    ).get_by_role("table")
    headers = [h.strip() for h in table.get_by_role("columnheader").all_inner_texts()]
    column = next(n for n, h in enumerate(headers) if re.search("adjudications", h, re.I))
    for name in ("rita", "vic"):
        row = table.get_by_role("row").filter(
            has=page.get_by_role("rowheader", name=name, exact=True)
        )
        cells = [c.strip() for c in row.get_by_role("cell").all_inner_texts()]
        # The row header is column 0; cells start at column 1.
        assert cells[column - 1] == "1 / 1", (name, headers, cells)
