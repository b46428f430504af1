"""The policy, privacy and report pages: admins grant exceptions and answer people's requests,
seniors read how well each classifier is confirmed."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from moderation.models import (
    AuditAction,
    AuditEvent,
    FlaggedItem,
    ItemState,
    PolicyCategory,
    PolicyException,
    PolicySettings,
    Verdict,
)
from moderation.services import policy
from moderation.services.review import decision_record
from tests.factories import FlaggedItemFactory, SignalFactory, SubjectFactory
from tests.privacy import ALICE_TEXTS, USER_ID, record_of_alice

pytestmark = pytest.mark.django_db


def category(slug: str) -> PolicyCategory:
    return PolicyCategory.objects.get(slug=slug)


@pytest.fixture
def ada(client, admin_user):
    client.force_login(admin_user)
    return client


def signed_in(client: Any, user: Any) -> Any:
    client.force_login(user)
    return client


def page_of(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


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


def test_the_policy_page_shows_exceptions_hard_limits_and_values(ada, acme, globex, admin_user):
    grant(acme, approved_by=admin_user)
    page = page_of(ada.get("/settings/policy/"))
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
def test_the_admin_forms_are_post_only(ada, url):
    assert ada.get(url).status_code == 405


# --- Granting and revoking -------------------------------------------------------------------


def test_an_admin_grants_an_exception_with_the_form(ada, acme, admin_user):
    response = ada.post("/settings/policy/exceptions/", grant_form(), follow=True)
    page = page_of(response)
    assert "Exception granted to acme for foreign-intelligence." in page
    exception = PolicyException.objects.get()
    assert exception.organization == acme and exception.category.slug == "foreign-intelligence"
    assert exception.approved_by == admin_user and exception.approved_via == "app"
    assert exception.reference == "CTR-2026-017"
    event = AuditEvent.objects.get(action=AuditAction.EXCEPTION_GRANT)
    assert event.actor == admin_user and event.detail["via"] == "app"


@pytest.mark.parametrize("slug", ["weapons", "child-safety", "malicious-cyber"])
def test_the_form_refuses_a_hard_limit_with_a_message_and_stores_nothing(ada, acme, slug):
    response = ada.post("/settings/policy/exceptions/", grant_form(category=slug), follow=True)
    page = page_of(response)
    assert "Not granted:" in page and "is a hard limit of the usage policy" in page
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
def test_the_form_refuses_what_makes_no_sense(ada, acme, overrides, message):
    page = page_of(ada.post("/settings/policy/exceptions/", grant_form(**overrides), follow=True))
    assert "Not granted:" in page and message in page
    assert not PolicyException.objects.exists()


def test_an_admin_revokes_an_exception(ada, acme, admin_user, reviewer):
    exception = grant(acme)
    response = ada.post(f"/settings/policy/exceptions/{exception.pk}/revoke/", follow=True)
    page = page_of(response)
    assert "Exception revoked; it no longer applies." in page and "Revoked" in page
    exception.refresh_from_db()
    assert exception.revoked_at is not None
    event = AuditEvent.objects.get(action=AuditAction.EXCEPTION_REVOKE)
    assert event.actor == admin_user
    # It no longer applies to decisions.
    decision = decision_record(
        item=FlaggedItemFactory(subject=SubjectFactory(organization=acme)),
        reviewer=reviewer,
        verdict=Verdict.VIOLATION,
        categories=[category("foreign-intelligence")],
        note="",
    )
    assert decision.allowed_by is None
    # A revoked exception cannot be revoked again.
    assert ada.post(f"/settings/policy/exceptions/{exception.pk}/revoke/").status_code == 404


def test_the_page_tells_expired_and_future_exceptions_apart(ada, acme):
    now = timezone.now()
    grant(acme, "fraud", valid_from=now + timedelta(days=3), valid_until=now + timedelta(days=9))
    expired = grant(acme, "hate", reference="CTR-OLD")
    PolicyException.objects.filter(pk=expired.pk).update(
        valid_from=now - timedelta(days=9), valid_until=now - timedelta(days=1)
    )
    page = page_of(ada.get("/settings/policy/"))
    assert "Not yet" in page and "Expired" in page and "CTR-OLD" in page


# --- Sampling and retention ------------------------------------------------------------------


def test_an_admin_saves_the_sample_and_the_retention_and_it_is_audited(ada, admin_user):
    response = ada.post(
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
def test_invalid_values_are_refused_and_nothing_changes(ada, sample, days):
    response = ada.post(
        "/settings/policy/values/",
        {"audit_sample_percent": sample, "retention_days": days},
        follow=True,
    )
    assert "Not saved:" in page_of(response)
    settings = PolicySettings.current()
    assert (settings.audit_sample_rate, settings.retention_days) == (0.05, 90)
    assert not AuditEvent.objects.filter(action=AuditAction.POLICY_SETTINGS).exists()


# --- /privacy/ -------------------------------------------------------------------------------


@pytest.fixture
def record(acme, reviewer, senior):
    return record_of_alice(acme, reviewer, senior)


def test_the_privacy_page_offers_export_erase_and_training_data(ada, acme):
    page = page_of(ada.get("/privacy/"))
    for text in (
        "Privacy requests",
        "Export as JSON",
        "Erase content",
        'name="confirm"',
        "Download training data (JSONL)",
        "Acme AI (acme)",
    ):
        assert text in page, text


def test_export_by_raw_id_returns_a_json_attachment_and_is_audited(ada, admin_user, record):
    response = ada.post(
        "/privacy/export/", {"organization": "acme", "kind": "id", "user": f" {USER_ID} "}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"modqueue-acme-{record.subject.user_id_hash[:12]}.json" in disposition
    document = json.loads(response.content)
    assert document["user_id_hash"] == record.subject.user_id_hash
    assert {i["prompt"] for i in document["items"]} == {ALICE_TEXTS[0], ALICE_TEXTS[3]}
    event = AuditEvent.objects.get(action=AuditAction.SUBJECT_EXPORT)
    assert event.actor == admin_user and event.subject == record.subject
    assert event.detail["via"] == "app"
    # The raw id is hashed on the spot and written nowhere.
    assert USER_ID not in json.dumps(event.detail)


def test_export_by_hash(ada, record):
    response = ada.post(
        "/privacy/export/",
        {"organization": "acme", "kind": "hash", "user": record.subject.user_id_hash},
    )
    assert json.loads(response.content)["user_id_hash"] == record.subject.user_id_hash


@pytest.mark.parametrize(
    "data, message",
    [
        ({"organization": "acme", "kind": "id", "user": "nobody"}, "Nothing is held about"),
        ({"organization": "acme", "kind": "hash", "user": "ABC"}, "64 lowercase hex characters"),
        ({"organization": "initech", "kind": "id", "user": USER_ID}, "Choose the organization"),
        ({"organization": "acme", "kind": "id", "user": "  "}, "Choose the organization"),
    ],
)
def test_export_of_no_one_says_why_and_logs_nothing(ada, record, data, message):
    response = ada.post("/privacy/export/", data, follow=True)
    assert message in page_of(response)
    assert not AuditEvent.objects.filter(action=AuditAction.SUBJECT_EXPORT).exists()


@pytest.mark.parametrize("confirm", ["", "yes", "Erase", "erase "])
def test_erasure_needs_the_typed_confirmation(ada, record, confirm):
    response = ada.post(
        "/privacy/erase/",
        {"organization": "acme", "kind": "id", "user": USER_ID, "confirm": confirm},
        follow=True,
    )
    assert "Type &quot;erase&quot; to confirm" in page_of(response)
    assert FlaggedItem.objects.filter(subject=record.subject, prompt=ALICE_TEXTS[0]).exists()
    assert not AuditEvent.objects.filter(action=AuditAction.SUBJECT_ERASE).exists()


def test_erasure_with_the_confirmation_erases_and_is_audited(ada, admin_user, record):
    response = ada.post(
        "/privacy/erase/",
        {"organization": "acme", "kind": "id", "user": USER_ID, "confirm": "erase"},
        follow=True,
    )
    page = page_of(response)
    assert "Erased the text of 2 item(s), 2 note(s) and 1 appeal message(s)" in page
    assert not FlaggedItem.objects.filter(subject=record.subject).exclude(prompt="").exists()
    record.subject.refresh_from_db()
    assert (record.subject.violations, record.subject.reviewed) == (1, 2)
    event = AuditEvent.objects.get(action=AuditAction.SUBJECT_ERASE)
    assert event.actor == admin_user and event.subject == record.subject
    assert event.detail["via"] == "app"


def test_erasure_on_the_page_takes_the_users_waiting_items_out_of_the_queue(
    ada, record, reviewer
):
    waiting = FlaggedItemFactory(subject=record.subject, prompt="ALICE-WAITING")
    response = ada.post(
        "/privacy/erase/",
        {"organization": "acme", "kind": "id", "user": USER_ID, "confirm": "erase"},
        follow=True,
    )
    assert "1 item nobody had decided left the queues" in page_of(response)
    waiting.refresh_from_db()
    assert waiting.state == ItemState.ERASED
    # The queue page counts only Bob's item now.
    queue = signed_in(ada, reviewer).get("/queue/")
    assert sum(q["pending"] for q in queue.context["summaries"]) == 1


# --- /exports/training.jsonl -----------------------------------------------------------------


def test_the_training_export_streams_json_lines_and_is_audited(ada, admin_user, acme, reviewer):
    item = FlaggedItemFactory(
        subject=SubjectFactory(organization=acme), prompt="Mail me at bob@example.com"
    )
    SignalFactory(item=item, score=0.66)
    decision_record(
        item=item,
        reviewer=reviewer,
        verdict=Verdict.VIOLATION,
        categories=[category("harassment")],
        note="",
    )
    FlaggedItemFactory(subject=item.subject, prompt="not decided yet")
    response = ada.get("/exports/training.jsonl")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    assert 'filename="modqueue-training.jsonl"' in response["Content-Disposition"]
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert [json.loads(line)["text"] for line in lines] == ["Mail me at [email]"]
    row = json.loads(lines[0])
    assert row["verdict"] == "violation" and row["categories"] == ["harassment"]
    assert row["signals"][0]["score"] == 0.66
    event = AuditEvent.objects.get(action=AuditAction.TRAINING_EXPORT)
    assert event.actor == admin_user and event.detail == {"via": "app"}


# --- /reports/classifiers/ -------------------------------------------------------------------


@pytest.fixture
def scored(acme, reviewer):
    """A small known data set: two classifiers, their flags by score, and reviewers' decisions.

    tox-a · violence: 0.95 confirmed, 1.0 confirmed, 0.92 rejected (no violation),
    0.91 undecided, 0.35 decided a violation but of hate (not confirmed for violence).
    tox-b · fraud: 0.55 confirmed.
    """
    subject = SubjectFactory(organization=acme)

    def flag(classifier: str, slug: str, score: float, verdict: str | None, *decided: str):
        item = FlaggedItemFactory(subject=subject)
        SignalFactory(item=item, classifier=classifier, category=category(slug), score=score)
        if verdict:
            decision_record(
                item=item,
                reviewer=reviewer,
                verdict=Verdict(verdict),
                categories=[category(s) for s in decided],
                note="",
            )

    flag("tox-a", "violence", 0.95, "violation", "violence")
    flag("tox-a", "violence", 1.0, "violation", "violence", "hate")
    flag("tox-a", "violence", 0.92, "no_violation")
    flag("tox-a", "violence", 0.91, None)
    flag("tox-a", "violence", 0.35, "violation", "hate")
    flag("tox-b", "fraud", 0.55, "violation", "fraud")


@pytest.mark.parametrize("url", ["/reports/classifiers/", "/reports/classifiers.csv"])
def test_the_classifier_report_is_for_seniors_and_admins(client, reviewer, senior, url):
    assert signed_in(client, reviewer).get(url).status_code == 403
    assert signed_in(client, senior).get(url).status_code == 200


def test_the_classifier_report_shows_counts_per_classifier_category_and_band(
    client, senior, scored
):
    page = page_of(signed_in(client, senior).get("/reports/classifiers/"))
    assert "tox-a · violence" in page and "tox-b · fraud" in page
    assert "5 flags, 4 decided, 2 confirmed" in page
    assert "1 flag, 1 decided, 1 confirmed" in page
    assert "<td>2/3</td>" in page and "<td>0/1</td>" in page and "<td>1/1</td>" in page
    assert "from 0.9: 2 of 3 confirmed (4 flags)" in page
    assert 'href="/reports/classifiers.csv"' in page


def test_the_classifier_report_without_flags_says_so(client, senior):
    assert "No flags yet." in page_of(signed_in(client, senior).get("/reports/classifiers/"))


def test_the_classifier_csv_has_its_header_and_the_right_numbers(ada, scored):
    response = ada.get("/reports/classifiers.csv")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert 'filename="modqueue-classifiers.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        [
            "classifier",
            "category",
            "score_from",
            "score_to",
            "flags",
            "decided",
            "confirmed",
            "rejected",
            "confirmation_rate",
        ],
        ["tox-a", "violence", "0.3", "0.4", "1", "1", "0", "1", "0.0000"],
        ["tox-a", "violence", "0.9", "1.0", "4", "3", "2", "1", "0.6667"],
        ["tox-b", "fraud", "0.5", "0.6", "1", "1", "1", "0", "1.0000"],
    ]


def test_the_classifier_csv_leaves_the_rate_empty_where_nothing_is_decided(ada, acme):
    SignalFactory(
        item=FlaggedItemFactory(subject=SubjectFactory(organization=acme)),
        classifier="tox-c",
        score=0.1,
    )
    rows = list(csv.reader(io.StringIO(ada.get("/reports/classifiers.csv").content.decode())))
    assert rows[1] == ["tox-c", "violence", "0.1", "0.2", "1", "0", "0", "0", ""]


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
