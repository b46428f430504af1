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
