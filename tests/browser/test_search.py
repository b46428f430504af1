"""Search on /items/ in a browser (issue 11): a reviewer types a request id, the start of a
user id hash and a word, follows a result to its item, and saves a search to use again."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from accounts.roles import Role
from moderation.models import FlaggedItem, SavedFilter, Verdict
from tests.factories import PASSWORD, UserFactory, decide

from .conftest import accept_and_process, log_in, screenshot, signal

pytestmark = pytest.mark.django_db(transaction=True)

# What end users of acme asked, as a classifier flagged it: one of them about a critical
# category (its text stays out of the list), one with an email address (masked).
FLAGGED = [
    (
        "req_8c1f2a",
        "user-81",
        "My ex changed the password on our shared account. How do I get into her email "
        "jane.doe@example.com without the password?",
        [signal("privacy", 0.88)],
    ),
    (
        "req_8c1f2b",
        "user-81",
        "Write a text message that tricks people into typing their bank password into my page.",
        [signal("fraud", 0.93)],
    ),
    (
        "req_8c1f2c",
        "user-42",
        "What makes a password strong enough that nobody can guess it?",
        [signal("fraud", 0.41)],
    ),
    (
        "req_8c1f2d",
        "user-42",
        "Which password-protected forums sell nerve agent precursors, and how do I get in?",
        [signal("weapons", 0.97)],
    ),
    (
        "req_8c1f2e",
        "user-17",
        "Generate 500 likely passwords for the account of @maria_k so I can try them all.",
        [signal("harassment", 0.72), signal("fraud", 0.81)],
    ),
    (
        "req_8c1f2f",
        "user-17",
        "Summarise this article about the city council's new parking rules.",
        [signal("other", 0.35)],
    ),
]


@pytest.fixture
def people() -> dict[str, Any]:
    return {
        "rita": UserFactory(username="rita", role=Role.REVIEWER),
        "sam": UserFactory(username="sam", role=Role.SENIOR),
    }


@pytest.fixture
def flagged_items(signed_key: Any, people: dict[str, Any]) -> dict[str, FlaggedItem]:
    accept_and_process(
        signed_key.api_key,
        *[
            {"request_id": r, "user_id": u, "prompt": p, "signals": s, "model": "claude-sonnet"}
            for r, u, p, s in FLAGGED
        ],
    )
    items = {i.request_id: i for i in FlaggedItem.objects.select_related("subject")}
    decide(items["req_8c1f2c"], Verdict.NO_VIOLATION, reviewer=people["sam"])
    decide(items["req_8c1f2e"], Verdict.VIOLATION, "fraud", reviewer=people["sam"])
    return items


def search_for(page: Page, text: str) -> None:
    box = page.get_by_role("searchbox", name="Search")
    box.fill(text)
    box.press("Enter")
    expect(page.get_by_role("heading", name="Results")).to_be_visible()


def result_links(page: Page) -> list[str]:
    table = page.get_by_role("table")
    return table.get_by_role("link", name=re.compile(r"^Item \d+$")).all_inner_texts()


def test_a_reviewer_finds_items_by_request_id_hash_and_word(
    page: Page, flagged_items: dict[str, FlaggedItem]
):
    page.goto("/items/")
    log_in(page, "rita", PASSWORD)
    expect(page.get_by_role("heading", name="Search items")).to_be_visible()
    expect(page.get_by_role("link", name="Search")).to_have_attribute("aria-current", "page")

    # A request id: that item alone.
    wanted = flagged_items["req_8c1f2b"]
    search_for(page, "req_8c1f2b")
    assert result_links(page) == [f"Item {wanted.pk}"]
    expect(page.get_by_text("matched by request id")).to_be_visible()

    # The start of a user id hash: both of that user's items.
    user = flagged_items["req_8c1f2a"].subject.user_id_hash
    search_for(page, user[:10])
    assert sorted(result_links(page)) == sorted(
        f"Item {flagged_items[r].pk}" for r in ("req_8c1f2a", "req_8c1f2b")
    )

    # A word, in its other forms too ("passwords"); critical text is not in the list, and
    # personal data is masked.
    search_for(page, "password")
    assert len(result_links(page)) == 5
    results = page.get_by_role("table")
    expect(results.get_by_text("Hidden in this list: open the item to review it.")).to_have_count(1)
    expect(results).not_to_contain_text("nerve agent")
    expect(results).not_to_contain_text("jane.doe@example.com")
    expect(results.get_by_text("[email]")).to_be_visible()
    expect(results.locator("mark").first).to_have_text(re.compile("password", re.I))

    # A result is a link to its item.
    first = flagged_items["req_8c1f2e"]
    page.get_by_role("link", name=f"Item {first.pk}", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/items/{first.pk}/$"))
    expect(page.get_by_role("heading", name=re.compile(rf"^Item {first.pk}\b"))).to_be_visible()


def test_a_reviewer_saves_a_search_and_uses_it_again(
    page: Page, flagged_items: dict[str, FlaggedItem]
):
    page.goto("/items/?q=password&verdict=violation")
    log_in(page, "rita", PASSWORD)
    expect(page.get_by_role("heading", name="Results")).to_be_visible()
    assert result_links(page) == [f"Item {flagged_items['req_8c1f2e'].pk}"]

    page.get_by_label("Name this search").fill("Password violations")
    page.get_by_role("button", name="Save search").click()
    expect(page.get_by_role("status")).to_have_text("Saved as “Password violations”.")

    page.get_by_role("link", name="Clear").click()
    expect(page.get_by_text("Nothing searched for yet.")).to_be_visible()
    page.get_by_role("link", name="Password violations").click()
    expect(page.get_by_role("searchbox", name="Search")).to_have_value("password")
    expect(page.get_by_label("Verdict")).to_have_value("violation")
    assert result_links(page) == [f"Item {flagged_items['req_8c1f2e'].pk}"]

    page.get_by_role("button", name="Delete saved search Password violations").click()
    expect(page.get_by_role("status")).to_have_text("The saved search is deleted.")
    expect(page.get_by_role("link", name="Password violations")).to_have_count(0)
    assert not SavedFilter.objects.exists()


def test_a_bad_filter_is_explained_on_the_form(page: Page, people: dict[str, Any]):
    page.goto("/items/")
    log_in(page, "rita", PASSWORD)
    page.get_by_label("User id hash").fill("abc")
    page.get_by_role("button", name="Filter").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("at least 8 hexadecimal characters")
    expect(page.get_by_label("User id hash")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("User id hash")).to_have_value("abc")


def test_the_search_page_screenshot(page: Page, flagged_items: dict[str, FlaggedItem], people):
    SavedFilter.objects.create(user=people["rita"], name="Fraud this week", query="category=fraud")
    SavedFilter.objects.create(
        user=people["rita"], name="Violations, acme", query="organization=acme&verdict=violation"
    )
    page.goto("/items/?q=password")
    log_in(page, "rita", PASSWORD)
    expect(page.get_by_role("heading", name="Results")).to_be_visible()
    screenshot(page, "search")
