"""Two-factor in a browser (CONTRACT §8 v2 "two-factor"): a reviewer sets it up by typing the
"Secret key" shown into their authenticator app (here: django-otp's own TOTP), logs out, and
logs in again with the password and then a "Code"."""

from __future__ import annotations

import re
from base64 import b32decode

from playwright.sync_api import Page, expect

from tests.factories import PASSWORD, totp_code, two_factor_on

from .conftest import log_in, screenshot, sign_in


def key_from(text: str) -> bytes:
    key = text.replace(" ", "")
    return b32decode(key + "=" * (-len(key) % 8))


def test_a_reviewer_sets_up_two_factor_and_logs_in_with_a_code(page: Page, reviewer) -> None:
    sign_in(page, "rita")
    page.goto("/accounts/two-factor/")
    expect(page.get_by_role("heading", name="Set up two-factor authentication")).to_be_visible()
    expect(page.get_by_role("img", name="QR image for authenticator apps")).to_be_visible()
    screenshot(page, "two-factor-set-up")
    secret = page.get_by_label("Secret key").inner_text()
    assert re.fullmatch(r"([A-Z2-7]{4} )+[A-Z2-7]{4}", secret), secret
    key = key_from(secret)

    page.get_by_label("Code").fill(totp_code(key))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Two-factor authentication is on")).to_be_visible()
    codes = page.locator(".recovery-code").all_inner_texts()
    assert len(codes) == 10

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    log_in(page, "rita", PASSWORD)
    expect(page).to_have_url(re.compile(r"/accounts/login/code/$"))
    expect(page.get_by_label("Code")).to_be_visible()
    screenshot(page, "log-in-code")
    # The code the set-up used is spent: an authenticator shows the next one 30 s later.
    page.get_by_label("Code").fill(totp_code(key, steps_ahead=1))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Review queues")).to_be_visible()


def test_a_recovery_code_logs_in_once(page: Page, reviewer) -> None:
    _, codes = two_factor_on(reviewer)
    page.goto("/accounts/login/")
    log_in(page, "rita", PASSWORD)
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Review queues")).to_be_visible()
    page.goto("/accounts/two-factor/")
    expect(page.get_by_text("9 recovery codes left")).to_be_visible()


def test_an_admin_required_to_use_it_sets_it_up_then_resets_a_reviewers(
    page: Page, reviewer, admin_user, senior, settings
) -> None:
    """Across features: the required roles send an admin to set-up first; the admin then
    resets a reviewer's lost phone from Users, the reviewer logs in with the password alone,
    a senior (also required) is sent to set-up from any page, and the audit log has the
    reset with its reason."""
    settings.MODQUEUE_2FA_REQUIRED_ROLES = ["admin", "senior"]
    two_factor_on(reviewer)

    page.goto("/settings/users/")
    log_in(page, "ada", PASSWORD)
    expect(page).to_have_url(re.compile(r"/accounts/two-factor/$"))
    key = key_from(page.get_by_label("Secret key").inner_text())
    page.get_by_label("Code").fill(totp_code(key))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Two-factor authentication is on")).to_be_visible()

    page.get_by_role("link", name="Users").click()
    rita = page.get_by_role("row").filter(has_text="rita")
    expect(rita.get_by_role("cell", name="on")).to_be_visible()
    screenshot(page, "users")
    rita.get_by_role("button", name="Reset two-factor").click()
    expect(page.get_by_role("heading", name="Reset two-factor of rita?")).to_be_visible()
    page.get_by_label("Reason").fill("lost her phone, ticket 4411")
    screenshot(page, "users-reset-confirm")
    page.get_by_role("button", name="Reset two-factor").click()
    expect(
        page.get_by_role("row").filter(has_text="rita").get_by_role("cell", name="off")
    ).to_be_visible()

    page.goto("/audit/")
    entry = page.get_by_role("row").filter(has_text="Reset two-factor authentication")
    expect(entry).to_contain_text("ada")
    expect(entry).to_contain_text("lost her phone, ticket 4411")

    for who, heading in (("rita", "Review queues"), ("sam", "Set up two-factor authentication")):
        page.get_by_role("button", name="Log out").click()
        page.goto("/enforcement/" if who == "sam" else "/queue/")
        log_in(page, who, PASSWORD)
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
