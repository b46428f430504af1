"""The quality report in a browser (issue 10): a senior reads everyone's figures, their chart
and the chart's table; a reviewer reads their own and nobody else's."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.roles import Role
from tests.factories import PASSWORD, UserFactory
from tests.quality_data import demo_data, fixed_data

from .conftest import SCREENSHOT_DIR, log_in, screenshot

pytestmark = pytest.mark.django_db(transaction=True)

MARCH = "since=2026-03-02&until=2026-03-29"


@pytest.fixture
def people() -> dict[str, Any]:
    return {
        "rita": UserFactory(username="rita", role=Role.REVIEWER),
        "vic": UserFactory(username="vic", role=Role.REVIEWER),
        "sam": UserFactory(username="sam", role=Role.SENIOR),
    }


def open_as(page: Page, username: str, url: str) -> None:
    page.goto(url)
    log_in(page, username, PASSWORD)
    page.wait_for_url(re.compile(re.escape(url.split("?")[0])))


def cells(page: Page, table: Any, header: str) -> list[str]:
    """The cells of the row headed `header`, as their text."""
    row = table.get_by_role("row").filter(
        has=page.get_by_role("rowheader", name=header, exact=True)
    )
    return [c.strip() for c in row.get_by_role("cell").all_inner_texts()]


def test_a_senior_reads_each_reviewers_figures_and_chart(page: Page, people: dict[str, Any]):
    fixed_data(people["rita"], people["vic"], people["sam"])
    open_as(page, "sam", f"/reports/quality/?{MARCH}")
    expect(page.get_by_role("heading", name="Quality report", level=1)).to_be_visible()

    by_reviewer = page.locator("section", has=page.get_by_role("heading", name="By reviewer"))
    rita = cells(page, by_reviewer.get_by_role("table"), "rita")
    assert rita[0] == "5"
    assert rita[1].startswith("60 %") and "3 of 5" in rita[1]
    assert rita[4].startswith("73 %")
    assert re.match(r"0\.46 \[.+\] n = 11", rita[5].replace("\xa0", " "))
    assert rita[6:] == ["1 / 1", "40"]
    sam = cells(page, by_reviewer.get_by_role("table"), "sam")
    assert "not enough pairs" in sam[5]

    by_category = page.locator(
        "section", has=page.get_by_role("heading", name="By policy category")
    )
    violence = cells(page, by_category.get_by_role("table"), "Violence")
    assert violence[0].startswith("0.27") and violence[1].startswith("67 %")

    # rita's chart: a drawing with a name, and its figures as a table behind "Figures by week".
    chart = page.get_by_role("figure", name="rita")
    expect(chart.get_by_role("img")).to_have_accessible_name(re.compile("gold accuracy and kappa"))
    chart.get_by_text("Figures by week").click()
    weeks = chart.get_by_role("table", name="rita: gold accuracy and kappa by week")
    expect(weeks).to_be_visible()
    first_week = cells(page, weeks, "2 Mar 2026")
    assert first_week[0].startswith("100 %") and first_week[1].startswith("0.40")
    assert cells(page, weeks, "16 Mar 2026")[0] == "–"

    # The period form takes another period, and the CSV link follows it.
    page.get_by_label("From", exact=True).fill("2026-03-09")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"since=2026-03-09"))
    expect(page.get_by_role("link", name="Download CSV")).to_have_attribute(
        "href", "/reports/quality.csv?since=2026-03-09&until=2026-03-29"
    )


def test_a_reviewer_reads_their_own_figures_only(page: Page, people: dict[str, Any]):
    fixed_data(people["rita"], people["vic"], people["sam"])
    open_as(page, "vic", "/queue/")
    page.get_by_role("link", name="My quality").click()
    expect(page.get_by_role("heading", name="My quality", level=1)).to_be_visible()
    page.get_by_label("From", exact=True).fill("2026-03-02")
    page.get_by_label("To", exact=True).fill("2026-03-29")
    page.get_by_role("button", name="Show").click()
    summary = page.get_by_role("definition")
    expect(summary.first).to_have_text("3")
    expect(page.get_by_role("figure")).to_have_count(1)
    expect(page.get_by_role("figure", name="vic")).to_be_visible()
    expect(page.get_by_text("rita")).to_have_count(0)


def test_screenshots_of_eight_weeks_of_work(page: Page):
    """The pages as docs/screenshots shows them: four reviewers, eight weeks."""
    reviewers = [
        UserFactory(username=name, role=Role.REVIEWER) for name in ("rita", "vic", "noor", "tomas")
    ]
    sam = UserFactory(username="sam", role=Role.SENIOR)
    today = timezone.now().date()
    demo_data(reviewers, sam, today=today)
    since = today - timedelta(days=55)
    open_as(page, "sam", f"/reports/quality/?since={since:%Y-%m-%d}&until={today:%Y-%m-%d}")
    expect(page.get_by_role("figure")).to_have_count(4)
    table = page.locator("section", has=page.get_by_role("heading", name="By reviewer"))
    for name in ("rita", "vic", "noor", "tomas"):
        assert re.match(r"-?\d\.\d\d \[", cells(page, table.get_by_role("table"), name)[5])
    screenshot(page, "quality-report")
    page.get_by_role("heading", name="Over time").scroll_into_view_if_needed()
    screenshot(page, "quality-report-chart")

    page.context.clear_cookies()
    open_as(page, "noor", f"/reports/quality/me/?since={since:%Y-%m-%d}&until={today:%Y-%m-%d}")
    expect(page.get_by_role("figure", name="noor")).to_be_visible()
    if SCREENSHOT_DIR:  # the whole page: the figures, the categories and the chart
        page.screenshot(path=Path(SCREENSHOT_DIR) / "quality-me.png", full_page=True)
