"""The operations dashboard in a browser (issue 11): a senior reads the queues against their
targets, the flow of items and decisions, the times and the reviewers, each chart with its
table, and switches the period."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.roles import Role
from tests.factories import PASSWORD, UserFactory
from tests.operations_data import REVIEWERS, demo_data

from .conftest import log_in, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def open_as(page: Page, username: str, url: str) -> None:
    page.goto(url)
    log_in(page, username, PASSWORD)
    page.wait_for_url(re.compile(re.escape(url.split("?")[0])))


def cells(page: Page, table: Any, header: str) -> list[str]:
    row = table.get_by_role("row").filter(
        has=page.get_by_role("rowheader", name=header, exact=True)
    )
    return [c.strip() for c in row.get_by_role("cell").all_inner_texts()]


def test_a_senior_reads_the_dashboard_and_switches_the_period(page: Page):
    demo_data(now=timezone.now())
    open_as(page, "sam", "/reports/classifiers/")
    page.get_by_role("navigation", name="Reports").get_by_role("link", name="Operations").click()
    expect(page.get_by_role("heading", name="Operations", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Last 24 hours")).to_have_attribute("aria-current", "true")

    # Three charts, each a drawing with a name and, behind "Figures by hour", its table.
    for name in ("Queue depth", "Oldest wait, as a share of the target", "Per hour"):
        chart = page.get_by_role("figure", name=name)
        expect(chart.get_by_role("img")).to_have_accessible_name(re.compile("table below"))
        expect(chart.locator("polyline, rect").first).to_be_attached()
        chart.get_by_text("Figures by hour").click()
        expect(chart.get_by_role("table")).to_be_visible()
        # 24 hourly rows under the header row.
        expect(chart.get_by_role("table").get_by_role("row")).to_have_count(25)

    flow = page.get_by_role("figure", name="Per hour").get_by_role("table")
    items_in = sum(int(c) for c in flow.locator("tbody td:nth-child(2)").all_inner_texts())
    summary = page.locator("dl.ops-summary")
    expect(summary.get_by_role("definition").nth(2)).to_have_text(str(items_in))

    queues = page.get_by_role("table").filter(
        has=page.get_by_role("columnheader", name="Past target")
    )
    assert cells(page, queues, "Critical")[0] == "60 min"
    attainment = page.locator("#sla-attainment")
    assert re.fullmatch(r"\d+ / \d+", cells(page, attainment, "Standard")[1])
    reviewers = page.locator("#reviewer-throughput")
    for name in REVIEWERS:
        assert int(cells(page, reviewers, name)[0]) > 0
    expect(page.locator("#deliveries").get_by_role("definition").first).to_have_text(
        re.compile(r"\d+ %")
    )

    page.get_by_role("link", name="Last 7 days").click()
    expect(page).to_have_url(re.compile(r"period=7d"))
    expect(page.get_by_role("link", name="Last 7 days")).to_have_attribute("aria-current", "true")
    chart = page.get_by_role("figure", name="Queue depth")
    chart.get_by_text("Figures by 6 hours").click()
    expect(chart.get_by_role("table").get_by_role("row")).to_have_count(29)
    expect(page.get_by_role("link", name="Download CSV")).to_have_attribute(
        "href", "/reports/operations.csv?period=7d"
    )


def test_a_reviewer_has_no_operations_tab(page: Page):
    UserFactory(username="rita", role=Role.REVIEWER)
    open_as(page, "rita", "/reports/quality/me/")
    expect(page.get_by_role("heading", name="My quality", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Operations")).to_have_count(0)
    response = page.goto("/reports/operations/")
    assert response is not None and response.status == 403


def test_screenshot_of_a_busy_day(page: Page):
    demo_data(now=timezone.now())
    page.set_viewport_size({"width": 1360, "height": 1940})
    open_as(page, "sam", "/reports/operations/")
    expect(page.get_by_role("figure")).to_have_count(3)
    screenshot(page, "operations")
