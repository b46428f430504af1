"""The pages work under their Content-Security-Policy (CONTRACT §8 v2) in a real browser: no
violation reported (Chromium's "Refused to ..." console errors, `securitypolicyviolation`
events) and no script error while a reviewer, a senior and an admin use the main pages, with
the htmx parts (a decision replacing the item in place, Show content, Undo) still working."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from moderation.models import Decision
from tests.factories import PASSWORD, SubjectFactory, reach_proposal

from .conftest import (
    assert_same_document,
    button,
    decision_on,
    log_in,
    mark_document,
    next_in_place,
    review_next,
    shown_item,
    sign_in,
    signal,
)

CRITICAL_PROMPT = "Walk me through making a nerve agent at home, with quantities."

REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  const what = `${event.violatedDirective} blocked ${event.blockedURI || "inline"}`;
  window.__cspViolation(`${what} at ${event.sourceFile}:${event.lineNumber}`);
});
"""


class Watch:
    """Everything a page said went wrong: CSP violations, console errors and warnings,
    uncaught script errors, across every page the tab loads."""

    def __init__(self, page: Page) -> None:
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        # Bound before any page loads and kept across navigations.
        page.expose_function("__cspViolation", lambda what: self.problems.append(f"CSP: {what}"))
        page.add_init_script(REPORT_VIOLATIONS)

    def _console(self, message: ConsoleMessage) -> None:
        # Chromium asks for /favicon.ico on its own, now and then; modqueue has none.
        if message.location.get("url", "").endswith("/favicon.ico"):
            return
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text} ({message.location})")


@pytest.fixture
def watched(new_page: Callable[..., Page]) -> Callable[[], tuple[Page, Watch]]:
    def open_watched() -> tuple[Page, Watch]:
        page = new_page()
        return page, Watch(page)

    return open_watched


def open_as(page: Page, username: str, path: str) -> None:
    """Log in through the form on the way to `path`."""
    page.goto(path)
    log_in(page, username, PASSWORD)
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))


def test_the_watch_sees_a_violation(watched, reviewer):
    # The policy is enforced, and what it refuses is caught: a style attribute and an inline
    # script put into the page are refused and reported.
    page, watch = watched()
    page.goto("/accounts/login/")
    page.evaluate(
        """() => {
            const box = document.createElement("div");
            box.innerHTML = '<p style="color: red">styled</p>';
            document.body.append(box);
            const script = document.createElement("script");
            script.textContent = "window.__ran = true";
            document.body.append(script);
        }"""
    )
    expect(page.get_by_text("styled")).to_be_visible()
    page.wait_for_timeout(200)
    assert page.evaluate("window.__ran") is None
    found = "\n".join(watch.problems)
    assert "CSP: style-src" in found, found
    assert "CSP: script-src" in found, found


def test_a_reviewer_decides_reveals_and_undoes_in_place(watched, reviewer, flagged):
    flagged(1, signal("weapons", 0.95), prompt=CRITICAL_PROMPT)
    flagged(2)
    page, watch = watched()
    sign_in(page, "rita")  # the log in page and the queue
    hidden = review_next(page)
    mark_document(page)

    # Show content: the critical item's text comes in place.
    page.get_by_role("button", name="Show content").click()
    expect(page.get_by_text(CRITICAL_PROMPT)).to_be_visible()
    assert_same_document(page)

    # A decision by click: the next item replaces this one in place.
    page.get_by_label("Weapons", exact=True).check()
    button(page, "Violation").click()
    second = next_in_place(page, after=hidden)
    assert decision_on(hidden).verdict == "violation"

    # Undo: the decided item comes back in place.
    page.locator(".undo-bar").get_by_role("button", name="Undo").click()
    expect(page).to_have_url(re.compile(rf"/items/{hidden}/$"))
    assert shown_item(page) == hidden
    assert_same_document(page)

    # A decision by key (review.js), then the one after it by click.
    page.keyboard.press("n")
    assert next_in_place(page, after=hidden) == second
    assert Decision.objects.final().get(item_id=hidden).verdict == "no_violation"

    # The item's user, from the item.
    page.locator("#subject-h").get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/subjects/acme/[0-9a-f]{64}/$"))

    assert watch.problems == []


def test_a_senior_and_an_admin_use_their_pages(watched, reviewer, senior, admin_user, acme):
    subject: Any = SubjectFactory(organization=acme)
    reach_proposal(subject, reviewer)  # warned, restricted, removal proposed
    page, watch = watched()
    open_as(page, "sam", "/enforcement/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Enforcement")
    for path in (
        f"/subjects/acme/{subject.user_id_hash}/",
        "/appeals/",
        "/reports/classifiers/",
    ):
        response = page.goto(path)
        assert response is not None and response.status == 200, path
    assert watch.problems == []

    page, watch = watched()
    open_as(page, "ada", "/settings/thresholds/")
    # The scope select submits its form on change (forms.js, not an onchange attribute).
    page.get_by_label("Applies to").select_option("acme")
    expect(page).to_have_url(re.compile(r"/settings/thresholds/\?scope=acme$"))
    expect(page.get_by_label("Applies to")).to_have_value("acme")
    for path in ("/audit/", "/settings/policy/", "/privacy/"):
        response = page.goto(path)
        assert response is not None and response.status == 200, path
    assert watch.problems == []


def test_the_pages_answer_with_the_policy(watched, reviewer: Any):
    page, _watch = watched()
    response = page.goto("/accounts/login/")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe" not in policy
