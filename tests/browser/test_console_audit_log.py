"""The audit log in a real browser: not for reviewers; an admin finds a session's claims,
skips and decisions there, newest first, and filters them."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from .conftest import button, mark_document, next_in_place, review_next, screenshot, sign_in


def test_a_reviewer_cannot_open_the_audit_log(page, reviewer):
    sign_in(page, "rita")
    expect(page.get_by_role("navigation", name="Main")).not_to_contain_text("Audit log")

    response = page.goto("/audit/")

    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("for the admin role")


def test_an_admin_sees_the_sessions_claims_and_decisions_in_the_audit_log(
    new_page, reviewer, admin_user, mild_queue
):
    page = new_page()
    sign_in(page, "rita")
    first = review_next(page)
    mark_document(page)
    button(page, "No violation").click()
    second = next_in_place(page, after=first)
    page.get_by_role("button", name="Skip", exact=True).click()
    third = next_in_place(page, after=second)
    flagged_as = page.locator(".category.flagged").get_by_role("checkbox").first
    flagged_as.check()
    button(page, "Violation").click()
    next_in_place(page, after=third)

    admin = new_page()
    sign_in(admin, "ada")
    admin.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()

    expect(admin.get_by_role("heading", name="Audit log")).to_be_visible()
    rows = admin.get_by_role("table").locator("tbody").get_by_role("row")

    def row(action: str, pk: int) -> Any:
        return rows.filter(has_text=action).filter(
            has=admin.get_by_role("link", name=f"item #{pk}", exact=True)
        )

    for pk in first, second, third:
        expect(row("Claimed item", pk)).to_have_count(1)
        expect(row("Claimed item", pk)).to_contain_text("rita")
    expect(row("Decided item", first)).to_contain_text("verdict: no_violation")
    expect(row("Skipped item", second)).to_contain_text("rita")
    expect(row("Decided item", third)).to_contain_text("verdict: violation")
    # The newest first.
    expect(rows.first).to_contain_text("Viewed item")
    screenshot(admin, "audit")

    admin.get_by_label("Action").select_option(label="Decided item")
    admin.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(2)
