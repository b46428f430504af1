"""/settings/policy/: admins grant and revoke exceptions and set the sample and retention; the
item page lists the organization's exceptions. (The privacy page: test_privacy.py; the
classifier report: test_reports.py.)"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from moderation.models import (
    AuditAction,
    AuditEvent,
    ItemState,
    PolicyException,
    PolicySettings,
    Verdict,
)
from moderation.services import policy
from tests.factories import (
    FlaggedItemFactory,
    SignalFactory,
    SubjectFactory,
    category,
    decide,
    page_of,
    signed_in,
)

pytestmark = pytest.mark.django_db


def grant_form(**overrides: str) -> dict[str, str]:
    form = {
        "organization": "acme",
        "category": "foreign-intelligence",
        "scope": "Analysis of foreign state actors",
        "reference": "CTR-2026-017",
        "valid_from": "",
        "valid_until": (timezone.now() + timedelta(days=365)).date().isoformat(),
    }
    form.update(overrides)
    return form


def grant(organization: Any, slug: str = "foreign-intelligence", **fields: Any):
    return policy.exception_grant(
        organization=organization,
        category=category(slug),
        scope=fields.pop("scope", "Analysis of foreign state actors"),
        reference=fields.pop("reference", "CTR-2026-017"),
        valid_until=fields.pop("valid_until", timezone.now() + timedelta(days=90)),
        **fields,
    )


# --- /settings/policy/: who may --------------------------------------------------------------

ADMIN_ONLY_POSTS = [
    "/settings/policy/exceptions/",
    "/settings/policy/values/",
    "/privacy/export/",
    "/privacy/erase/",
]


def test_the_policy_page_needs_a_signed_in_user(client, db):
    response = client.get("/settings/policy/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("role", ["reviewer", "senior"])
@pytest.mark.parametrize("url", ["/settings/policy/", "/privacy/", "/exports/training.jsonl"])
def test_admin_pages_are_forbidden_to_reviewers_and_seniors(client, request, role, url):
    response = signed_in(client, request.getfixturevalue(role)).get(url)
    assert response.status_code == 403


@pytest.mark.parametrize("role", ["reviewer", "senior"])
@pytest.mark.parametrize("url", ADMIN_ONLY_POSTS)
def test_admin_forms_are_forbidden_to_reviewers_and_seniors(client, request, acme, role, url):
    user = request.getfixturevalue(role)
    data = {**grant_form(), "audit_sample_percent": "100", "retention_days": "1"}
    response = signed_in(client, user).post(url, data)
    assert response.status_code == 403
    assert not PolicyException.objects.exists()
    assert PolicySettings.current().retention_days == 90


def test_a_senior_cannot_revoke(client, senior, acme):
    exception = grant(acme)
    response = signed_in(client, senior).post(f"/settings/policy/exceptions/{exception.pk}/revoke/")
    assert response.status_code == 403
    exception.refresh_from_db()
    assert exception.revoked_at is None


def test_the_policy_page_shows_exceptions_hard_limits_and_values(
    admin_client, acme, globex, admin_user
):
    grant(acme, approved_by=admin_user)
    page = page_of(admin_client.get("/settings/policy/"))
    assert "Policy exceptions and privacy settings" in page
    for hard_limit in ("weapons", "child safety", "censorship", "mass domestic surveillance"):
        assert hard_limit in page
    assert "Child safety (hard limit: refused)" in page
    assert "Foreign intelligence analysis</option>" in page
    assert "CTR-2026-017" in page and "Active" in page and "ada" in page
    assert 'name="audit_sample_percent"' in page and 'value="5"' in page
    assert 'name="retention_days"' in page and 'value="90"' in page


@pytest.mark.parametrize(
    "url", ["/settings/policy/exceptions/", "/settings/policy/values/", "/privacy/erase/"]
)
def test_the_admin_forms_are_post_only(admin_client, url):
    assert admin_client.get(url).status_code == 405


# --- Granting and revoking -------------------------------------------------------------------


def test_an_admin_grants_an_exception_with_the_form(admin_client, acme, admin_user):
    response = admin_client.post("/settings/policy/exceptions/", grant_form(), follow=True)
    page = page_of(response)
    assert (
        '<p class="message message-success" role="status">'
        "Exception granted to acme for foreign-intelligence.</p>"
    ) in page
    exception = PolicyException.objects.get()
    assert exception.organization == acme and exception.category.slug == "foreign-intelligence"
    assert exception.approved_by == admin_user and exception.approved_via == "app"
    assert exception.reference == "CTR-2026-017"
    event = AuditEvent.objects.get(action=AuditAction.EXCEPTION_GRANT)
    assert event.actor == admin_user and event.detail["via"] == "app"


@pytest.mark.parametrize("slug", ["weapons", "child-safety", "malicious-cyber"])
def test_the_form_refuses_a_hard_limit_with_a_message_and_stores_nothing(admin_client, acme, slug):
    response = admin_client.post(
        "/settings/policy/exceptions/", grant_form(category=slug), follow=True
    )
    page = page_of(response)
    assert "Not granted:" in page and "is a hard limit of the usage policy" in page
    # A refusal looks and reads as an error, not as news.
    assert '<p class="message message-error alert-error" role="alert">Not granted:' in page
    assert not PolicyException.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.EXCEPTION_GRANT).exists()
    # What the admin typed is kept for them to correct.
    assert "CTR-2026-017" in page and "Analysis of foreign state actors" in page


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"valid_until": "31/12/2030"}, "Dates are YYYY-MM-DD."),
        ({"valid_until": ""}, "Dates are YYYY-MM-DD."),
        ({"valid_from": "soon"}, "Dates are YYYY-MM-DD."),
        ({"valid_until": "2020-01-01"}, "The exception must end after it starts."),
        ({"organization": "initech"}, "Choose an organization and a category."),
        ({"category": "espionage"}, "Choose an organization and a category."),
        ({"reference": "  "}, "needs its scope and its contract reference"),
    ],
)
def test_the_form_refuses_what_makes_no_sense(admin_client, acme, overrides, message):
    page = page_of(
        admin_client.post("/settings/policy/exceptions/", grant_form(**overrides), follow=True)
    )
    assert "Not granted:" in page and message in page
    assert not PolicyException.objects.exists()


def test_an_admin_revokes_an_exception(admin_client, acme, admin_user, reviewer):
    exception = grant(acme)
    response = admin_client.post(
        f"/settings/policy/exceptions/{exception.pk}/revoke/", {"confirmed": "1"}, follow=True
    )
    page = page_of(response)
    assert "Exception revoked; it no longer applies." in page and "Revoked" in page
    exception.refresh_from_db()
    assert exception.revoked_at is not None
    event = AuditEvent.objects.get(action=AuditAction.EXCEPTION_REVOKE)
    assert event.actor == admin_user
    # It no longer applies to decisions.
    decision = decide(
        SubjectFactory(organization=acme),
        Verdict.VIOLATION,
        "foreign-intelligence",
        reviewer=reviewer,
    )
    assert decision.allowed_by is None
    # A revoked exception cannot be revoked again.
    for confirmed in ("", "1"):
        url = f"/settings/policy/exceptions/{exception.pk}/revoke/"
        assert admin_client.post(url, {"confirmed": confirmed}).status_code == 404


def test_revoking_first_asks_for_confirmation_and_changes_nothing(admin_client, acme, reviewer):
    exception = grant(acme)
    decide(
        SubjectFactory(organization=acme),
        Verdict.VIOLATION,
        "foreign-intelligence",
        reviewer=reviewer,
    )
    response = admin_client.post(f"/settings/policy/exceptions/{exception.pk}/revoke/")
    page = page_of(response)
    assert "Revoke this exception?" in page
    assert "<strong>ends now</strong>" in page and "CTR-2026-017" in page
    assert "counted again toward its users' thresholds" in page
    assert "The 1 violation already decided under it stays as recorded" in page
    assert ">Revoke exception</button>" in page and 'name="confirmed" value="1"' in page
    assert '<a class="button-link" href="/settings/policy/">Cancel</a>' in page
    exception.refresh_from_db()
    assert exception.revoked_at is None
    assert not AuditEvent.objects.filter(action=AuditAction.EXCEPTION_REVOKE).exists()

    admin_client.post(f"/settings/policy/exceptions/{exception.pk}/revoke/", {"confirmed": "1"})
    exception.refresh_from_db()
    assert exception.revoked_at is not None


def test_the_page_tells_expired_and_future_exceptions_apart(admin_client, acme):
    now = timezone.now()
    grant(acme, "fraud", valid_from=now + timedelta(days=3), valid_until=now + timedelta(days=9))
    expired = grant(acme, "hate", reference="CTR-OLD")
    PolicyException.objects.filter(pk=expired.pk).update(
        valid_from=now - timedelta(days=9), valid_until=now - timedelta(days=1)
    )
    page = page_of(admin_client.get("/settings/policy/"))
    assert "Not yet" in page and "Expired" in page and "CTR-OLD" in page


# --- Sampling and retention ------------------------------------------------------------------


def test_an_admin_saves_the_sample_and_the_retention_and_it_is_audited(admin_client, admin_user):
    response = admin_client.post(
        "/settings/policy/values/",
        {"audit_sample_percent": "2.5", "retention_days": "30"},
        follow=True,
    )
    page = page_of(response)
    assert "Policy settings saved." in page
    settings = PolicySettings.current()
    assert settings.audit_sample_rate == pytest.approx(0.025)
    assert settings.retention_days == 30 and settings.updated_by == admin_user
    event = AuditEvent.objects.get(action=AuditAction.POLICY_SETTINGS)
    assert event.actor == admin_user
    assert event.detail["before"] == {"audit_sample_rate": 0.05, "retention_days": 90}
    assert event.detail["after"]["retention_days"] == 30
    assert event.detail["after"]["audit_sample_rate"] == pytest.approx(0.025)
    # The form shows what was saved, so saving it again changes nothing.
    assert 'value="2.5"' in page and 'value="30"' in page


@pytest.mark.parametrize(
    "sample, days",
    [
        ("abc", "30"),
        ("5", "thirty"),
        ("", "30"),
        ("-1", "30"),
        ("100.5", "30"),
        ("5", "0"),
        ("5", "3651"),
        ("5", "2.5"),
    ],
)
def test_invalid_values_are_refused_and_nothing_changes(admin_client, sample, days):
    response = admin_client.post(
        "/settings/policy/values/",
        {"audit_sample_percent": sample, "retention_days": days},
        follow=True,
    )
    assert "Not saved:" in page_of(response)
    settings = PolicySettings.current()
    assert (settings.audit_sample_rate, settings.retention_days) == (0.05, 90)
    assert not AuditEvent.objects.filter(action=AuditAction.POLICY_SETTINGS).exists()


# --- The item page and exceptions ------------------------------------------------------------


def test_the_item_page_lists_the_organizations_active_exceptions_only(
    client, reviewer, acme, globex
):
    now = timezone.now()
    grant(acme, reference="CTR-ACTIVE", scope="Analysis of foreign ministries")
    expired = grant(acme, "fraud", reference="CTR-EXPIRED")
    PolicyException.objects.filter(pk=expired.pk).update(
        valid_from=now - timedelta(days=30), valid_until=now - timedelta(days=1)
    )
    revoked = grant(acme, "hate", reference="CTR-REVOKED")
    policy.exception_revoke(exception=revoked, user=None)
    grant(globex, "privacy", reference="CTR-GLOBEX")
    item = FlaggedItemFactory(subject=SubjectFactory(organization=acme))
    SignalFactory(item=item)

    page = page_of(signed_in(client, reviewer).get(f"/items/{item.pk}/"))
    assert "Exceptions of acme" in page
    assert "CTR-ACTIVE" in page and "Analysis of foreign ministries" in page
    assert "Foreign intelligence analysis</span>" in page
    for absent in ("CTR-EXPIRED", "CTR-REVOKED", "CTR-GLOBEX"):
        assert absent not in page


def test_the_item_page_of_an_organization_without_exceptions_has_no_such_panel(
    client, reviewer, acme
):
    item = FlaggedItemFactory(subject=SubjectFactory(organization=acme))
    assert "Exceptions of" not in page_of(signed_in(client, reviewer).get(f"/items/{item.pk}/"))


def test_an_item_allowed_at_ingest_shows_as_allowed_and_cannot_be_decided(client, reviewer, acme):
    item = FlaggedItemFactory(
        subject=SubjectFactory(organization=acme),
        state=ItemState.ALLOWED,
        decided_at=timezone.now(),
    )
    page = page_of(signed_in(client, reviewer).get(f"/items/{item.pk}/"))
    assert "allowed at ingest under a policy exception" in page
    assert "Another reviewer holds this item" not in page
    assert 'id="decision"' not in page
