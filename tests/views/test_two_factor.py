"""Two-factor authentication (CONTRACT §8 v2 "two-factor"): setting it up, the code step of
logging in, the roles that must have it, an admin's reset, and idle sessions ending."""

from __future__ import annotations

import re
from base64 import b32decode
from datetime import timedelta

import pytest
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import two_factor
from moderation.models import AuditAction, AuditEvent
from tests.factories import PASSWORD, page_of, totp_code, totp_wrong_code, two_factor_on

pytestmark = pytest.mark.django_db

SETUP = "/accounts/two-factor/"
CODE = "/accounts/login/code/"


def secret_on(page: str) -> bytes:
    """The key an authenticator app gets from the "Secret key" text."""
    text = re.search(r'<output id="secret-key"><code>([A-Z2-7 ]+)</code></output>', page)
    assert text is not None, "no secret key on the page"
    key = text.group(1).replace(" ", "")
    return b32decode(key + "=" * (-len(key) % 8))


def codes_on(page: str) -> list[str]:
    return re.findall(r'<li><code class="recovery-code">([a-z2-7]{8})</code></li>', page)


def password_step(client, username="rita", next_url=None):
    data = {"username": username, "password": PASSWORD}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/accounts/login/", data)


def signed_in_as(client) -> str | None:
    return client.session.get("_auth_user_id")


# --- Setting it up ---------------------------------------------------------------------------


def test_the_set_up_page_has_the_contract_labels(reviewer_client):
    page = page_of(reviewer_client.get(SETUP))
    assert ">Set up two-factor authentication</h1>" in page
    assert '<label for="secret-key" class="secret-label">Secret key</label>' in page
    assert '<label for="id_code">Code</label>' in page
    assert ">Verify</button>" in page
    assert re.search(
        r'<svg [^>]*class="qr" role="img" aria-label="QR image for authenticator apps"', page
    )


def test_the_qr_code_needs_no_script_style_or_data_uri(reviewer_client):
    page = page_of(reviewer_client.get(SETUP))
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert "data:" not in page
    assert " style=" not in page
    assert not re.search(r"\son[a-z]+=", page)
    assert "<script" not in svg


def test_the_secret_key_is_the_devices_and_stays_until_set_up(reviewer_client, reviewer):
    key = secret_on(page_of(reviewer_client.get(SETUP)))
    device = TOTPDevice.objects.get(user=reviewer)
    assert key == device.bin_key and not device.confirmed
    assert secret_on(page_of(reviewer_client.get(SETUP))) == key
    assert TOTPDevice.objects.filter(user=reviewer).count() == 1


def test_a_right_code_turns_it_on_and_shows_ten_recovery_codes_once(reviewer_client, reviewer):
    key = secret_on(page_of(reviewer_client.get(SETUP)))
    response = reviewer_client.post(SETUP, {"code": totp_code(key)})
    page = page_of(response)
    assert "no-store" in response["Cache-Control"]
    codes = codes_on(page)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert set(codes) == set(StaticToken.objects.values_list("token", flat=True))
    assert TOTPDevice.objects.get(user=reviewer).confirmed
    event = AuditEvent.objects.get(action=AuditAction.TWO_FACTOR_SETUP)
    assert event.actor == reviewer and event.target == "rita"
    again = page_of(reviewer_client.get(SETUP))
    assert codes_on(again) == []
    assert "Two-factor authentication is on" in again
    assert "10 recovery codes left" in again
    assert "Secret key" not in again


def test_the_session_that_set_it_up_counts_as_verified(reviewer_client):
    key = secret_on(page_of(reviewer_client.get(SETUP)))
    reviewer_client.post(SETUP, {"code": totp_code(key)})
    assert reviewer_client.session.get("otp_device_id", "").startswith("otp_totp.totpdevice/")


def test_a_wrong_code_confirms_nothing(reviewer_client, reviewer):
    key = secret_on(page_of(reviewer_client.get(SETUP)))
    response = reviewer_client.post(SETUP, {"code": totp_wrong_code(key)})
    assert response.status_code == 422
    page = response.content.decode()
    assert 'role="alert"' in page and "did not match" in page
    assert secret_on(page) == key  # the same secret, to try again
    assert not TOTPDevice.objects.filter(user=reviewer, confirmed=True).exists()
    assert not StaticDevice.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.TWO_FACTOR_SETUP).exists()


def test_new_recovery_codes_replace_the_old_ones(reviewer_client, reviewer):
    _, old = two_factor_on(reviewer)
    assert two_factor.code_verify(user=reviewer, code=old[0]).device is not None
    page = page_of(reviewer_client.get(SETUP))
    assert "9 recovery codes left" in page and ">Make new recovery codes</button>" in page
    response = reviewer_client.post("/accounts/two-factor/recovery-codes/")
    assert "no-store" in response["Cache-Control"]
    new = codes_on(page_of(response))
    assert len(new) == 10 and not set(new) & set(old)
    assert two_factor.code_verify(user=reviewer, code=old[1]).device is None
    assert two_factor.recovery_codes_left(reviewer) == 10
    event = AuditEvent.objects.get(action=AuditAction.RECOVERY_CODES_NEW)
    assert event.actor == reviewer and event.target == "rita"


def test_new_recovery_codes_need_two_factor_on(reviewer_client):
    response = reviewer_client.post("/accounts/two-factor/recovery-codes/")
    assert response.status_code == 302 and response["Location"] == SETUP
    assert not StaticToken.objects.exists()


# --- Logging in: the password, then a code ---------------------------------------------------


def test_a_password_alone_does_not_sign_in_a_user_with_two_factor(client, reviewer):
    two_factor_on(reviewer)
    response = password_step(client)
    assert response.status_code == 302 and response["Location"] == CODE
    assert signed_in_as(client) is None
    assert client.get("/queue/")["Location"].startswith("/accounts/login/")
    page = page_of(client.get(CODE))
    assert '<label for="id_code">Code</label>' in page and ">Verify</button>" in page


def test_the_right_code_signs_in(client, reviewer):
    device, _ = two_factor_on(reviewer)
    password_step(client)
    response = client.post(CODE, {"code": totp_code(device.bin_key)})
    assert response.status_code == 302 and response["Location"] == "/queue/"
    assert signed_in_as(client) == str(reviewer.pk)
    assert client.session["otp_device_id"] == device.persistent_id
    assert two_factor.PENDING_SESSION_KEY not in client.session
    assert client.get("/queue/").status_code == 200


def test_users_without_two_factor_sign_in_with_the_password(client, reviewer):
    response = password_step(client)
    assert response["Location"] == "/queue/" and signed_in_as(client) == str(reviewer.pk)


def test_a_wrong_code_is_refused(client, reviewer):
    device, _ = two_factor_on(reviewer)
    password_step(client)
    response = client.post(CODE, {"code": totp_wrong_code(device.bin_key)})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'role="alert"' in page and "did not match" in page
    assert signed_in_as(client) is None


def test_each_recovery_code_works_once(client, reviewer, settings):
    settings.OTP_STATIC_THROTTLE_FACTOR = 60  # the throttle's wait outlasts a slow test run
    _, codes = two_factor_on(reviewer)
    password_step(client)
    assert client.post(CODE, {"code": codes[0].upper()})["Location"] == "/queue/"
    client.post("/accounts/logout/")
    password_step(client)
    assert client.post(CODE, {"code": codes[0]}).status_code == 200
    assert signed_in_as(client) is None
    assert client.post(CODE, {"code": codes[1]}).status_code == 429  # throttled for a minute
    assert two_factor.recovery_codes_left(reviewer) == 9


def test_next_is_kept_when_safe(client, reviewer):
    device, _ = two_factor_on(reviewer)
    password_step(client, next_url="/queue/?queue=urgent")
    response = client.post(CODE, {"code": totp_code(device.bin_key)})
    assert response["Location"] == "/queue/?queue=urgent"


def test_an_unsafe_next_goes_to_the_queue(client, reviewer):
    device, _ = two_factor_on(reviewer)
    password_step(client, next_url="https://evil.example/phish")
    response = client.post(CODE, {"code": totp_code(device.bin_key)})
    assert response["Location"] == "/queue/"


def test_the_code_step_expires_after_five_minutes(client, reviewer, monkeypatch):
    device, _ = two_factor_on(reviewer)
    password_step(client)
    later = timezone.now() + timedelta(seconds=two_factor.PENDING_SECONDS + 1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    response = client.post(CODE, {"code": totp_code(device.bin_key)})
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert signed_in_as(client) is None
    assert "took too long" in page_of(client.get("/accounts/login/"))


def test_the_code_page_without_a_password_sends_to_log_in(client, reviewer):
    two_factor_on(reviewer)
    response = client.post(CODE, {"code": "123456"})
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert signed_in_as(client) is None


def test_a_right_code_right_after_wrong_ones_is_refused(client, reviewer, settings, monkeypatch):
    """django-otp's throttle: after n wrong codes, no code is checked for factor × 2^(n-1)
    seconds (the factor is 1 s by default; a minute here, so a slow run cannot outlast it)."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 60
    device, _ = two_factor_on(reviewer)
    password_step(client)
    client.post(CODE, {"code": totp_wrong_code(device.bin_key)})
    for _ in range(2):
        response = client.post(CODE, {"code": totp_code(device.bin_key)})
        assert response.status_code == 429
        assert "Too many wrong codes" in response.content.decode()
    assert signed_in_as(client) is None
    later = timezone.now() + timedelta(seconds=61)
    monkeypatch.setattr(timezone, "now", lambda: later)  # the throttle's clock, not the code's
    assert client.post(CODE, {"code": totp_code(device.bin_key)})["Location"] == "/queue/"


def test_five_wrong_codes_end_the_step_and_lock_the_password(client, reviewer):
    device, _ = two_factor_on(reviewer)
    password_step(client)
    for _ in range(two_factor.PENDING_MAX_FAILURES):
        client.post(CODE, {"code": totp_wrong_code(device.bin_key)})
    assert client.get(CODE)["Location"] == "/accounts/login/"
    locked = password_step(client)
    assert locked.status_code == 429 and "Too many attempts" in locked.content.decode()
    assert signed_in_as(client) is None


# --- Roles that must have it -----------------------------------------------------------------


@pytest.fixture
def reviewers_need_it(settings):
    settings.MODQUEUE_2FA_REQUIRED_ROLES = ["reviewer"]


def test_a_required_role_without_two_factor_is_sent_to_set_it_up(
    reviewers_need_it, reviewer_client
):
    for path in ("/queue/", "/audit/", "/settings/users/"):
        response = reviewer_client.get(path)
        assert response.status_code == 302 and response["Location"] == SETUP, path
    assert reviewer_client.post("/queue/next/")["Location"] == SETUP
    assert reviewer_client.get(SETUP).status_code == 200


def test_htmx_requests_get_an_hx_redirect(reviewers_need_it, reviewer_client):
    response = reviewer_client.get("/queue/", headers={"HX-Request": "true"})
    assert response["HX-Redirect"] == SETUP


def test_the_api_is_left_alone(reviewers_need_it, reviewer_client):
    # (Static files are WhiteNoise's, answered before any session middleware.)
    assert (
        reviewer_client.post("/api/v1/flags/k", content_type="application/json").status_code == 401
    )


def test_log_out_is_left_alone(reviewers_need_it, reviewer_client):
    assert reviewer_client.post("/accounts/logout/")["Location"] == "/accounts/login/"


def test_once_set_up_the_pages_open(reviewers_need_it, reviewer_client, reviewer):
    two_factor_on(reviewer)
    assert reviewer_client.get("/queue/").status_code == 200


def test_other_roles_are_not_sent(reviewers_need_it, senior_client):
    assert senior_client.get("/queue/").status_code == 200


def test_nobody_is_sent_when_no_role_needs_it(reviewer_client):
    assert reviewer_client.get("/queue/").status_code == 200


# --- An admin's reset ------------------------------------------------------------------------


def test_the_users_page_lists_roles_two_factor_and_last_log_in(admin_client, reviewer, senior):
    two_factor_on(reviewer)
    reviewer.last_login = timezone.now()
    reviewer.save(update_fields=["last_login"])
    page = page_of(admin_client.get("/settings/users/"))
    rita = page[page.index("<td>rita</td>") : page.index("<td>sam</td>")]
    assert (
        "Reviewer" in rita and ">on<" in rita and reviewer.last_login.strftime("%Y-%m-%d") in rita
    )
    assert f'action="/settings/users/{reviewer.pk}/reset-two-factor/"' in rita
    sam = page[page.index("<td>sam</td>") :]
    assert "Senior reviewer" in sam and ">off<" in sam and "never" in sam


def test_the_users_page_is_for_admins(senior_client):
    assert senior_client.get("/settings/users/").status_code == 403


def test_a_reset_asks_for_a_reason_first(admin_client, reviewer):
    two_factor_on(reviewer)
    url = f"/settings/users/{reviewer.pk}/reset-two-factor/"
    page = page_of(admin_client.get(url))
    assert '<label for="id_reason">Reason</label>' in page and ">Reset two-factor</button>" in page
    response = admin_client.post(url, {"reason": "  "})
    assert response.status_code == 422 and 'role="alert"' in response.content.decode()
    assert two_factor.totp_enabled(reviewer)


def test_a_reset_removes_the_devices_and_is_audited(admin_client, admin_user, reviewer):
    device, codes = two_factor_on(reviewer)
    url = f"/settings/users/{reviewer.pk}/reset-two-factor/"
    response = admin_client.post(url, {"reason": "lost phone, ticket 42"})
    assert response.status_code == 302 and response["Location"] == "/settings/users/"
    assert not TOTPDevice.objects.filter(user=reviewer).exists()
    assert not StaticDevice.objects.filter(user=reviewer).exists()
    event = AuditEvent.objects.get(action=AuditAction.TWO_FACTOR_RESET)
    assert event.actor == admin_user and event.target == "rita"
    assert event.detail["reason"] == "lost phone, ticket 42"
    assert "rita" in page_of(admin_client.get("/settings/users/"))


def test_after_a_reset_the_password_alone_signs_in(admin_client, reviewer, client):
    two_factor_on(reviewer)
    admin_client.post(f"/settings/users/{reviewer.pk}/reset-two-factor/", {"reason": "lost"})
    admin_client.post("/accounts/logout/")
    assert password_step(client)["Location"] == "/queue/"


def test_resetting_an_unknown_user_is_404(admin_client):
    assert admin_client.get("/settings/users/999999/reset-two-factor/").status_code == 404


# --- Idle sessions ---------------------------------------------------------------------------


def at(monkeypatch, when):
    monkeypatch.setattr(timezone, "now", lambda: when)


def test_a_session_idle_for_eight_hours_ends(reviewer_client, monkeypatch):
    start = timezone.now()
    assert reviewer_client.get("/queue/").status_code == 200
    at(monkeypatch, start + timedelta(hours=8, minutes=1))
    assert reviewer_client.get("/queue/")["Location"].startswith("/accounts/login/")


def test_an_active_session_goes_on(reviewer_client, monkeypatch):
    start = timezone.now()
    for hours in range(0, 25, 2):
        at(monkeypatch, start + timedelta(hours=hours))
        assert reviewer_client.get("/queue/").status_code == 200, f"after {hours} h"


def test_the_session_is_not_written_on_every_request(reviewer_client, monkeypatch):
    start = timezone.now()
    reviewer_client.get("/queue/")
    at(monkeypatch, start + timedelta(minutes=1))
    assert "sessionid" not in reviewer_client.get("/queue/").cookies
    at(monkeypatch, start + timedelta(minutes=10))
    assert "sessionid" in reviewer_client.get("/queue/").cookies
