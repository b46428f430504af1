"""The navigation's counts in a real browser (CONTRACT §8 v2): a senior sees the proposed
removals as a badge on "Enforcement", the link still found by its name, and a new open
appeal appears on "Appeals" at the next 30-second refresh, without reloading the page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from moderation.models import Appeal
from tests.factories import PASSWORD, SubjectFactory, reach_proposal

from .conftest import log_in, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_senior_sees_the_counts_and_they_refresh(page: Page, reviewer: Any, senior: Any):
    subject: Any = SubjectFactory()
    proposal = reach_proposal(subject, reviewer)
    page.clock.install()
    page.goto("/queue/")
    log_in(page, senior.username, PASSWORD)
    expect(page).to_have_url(re.compile(r"/queue/$"))

    nav = page.get_by_role("navigation", name="Main")
    enforcement = nav.get_by_role("link", name="Enforcement")
    expect(enforcement).to_have_accessible_name("Enforcement (1 proposed removal)")
    expect(enforcement.locator(".nav-count")).to_be_visible()
    appeals = nav.get_by_role("link", name="Appeals")
    expect(appeals).to_have_accessible_name("Appeals")
    expect(appeals.locator(".nav-count")).to_be_hidden()
    screenshot(page, "nav-counts")

    Appeal.objects.create(action=proposal, message="I was quoting a novel.")
    page.clock.run_for(31_000)
    expect(appeals).to_have_accessible_name("Appeals (1 open appeal)")
    expect(appeals.locator(".nav-count")).to_have_text("(1 open appeal)1")
