"""POST /api/v1/subjects/lookup (CONTRACT §4): a user's live status, for the key's organization."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from moderation.models import FlaggedItem, Subject, Thresholds, Verdict
from moderation.services.ingest import batch_process
from moderation.services.organizations import api_key_revoke
from moderation.services.subjects import subject_hash
from tests.factories import decide

pytestmark = pytest.mark.django_db

URL = "/api/v1/subjects/lookup"
FIELDS = {
    "organization",
    "user_id_hash",
    "status",
    "violations",
    "reviewed",
    "violation_rate",
    "window_days",
    "updated_at",
}


def lookup(
    signed_key: Any,
    body: Any,
    *,
    raw: bytes | None = None,
    content_type: str = "application/json",
    secret: str | None = None,
) -> Any:
    headers = {"Authorization": f"Bearer {secret or signed_key.secret}"}
    data = raw if raw is not None else json.dumps(body)
    return signed_key.client.post(URL, data=data, content_type=content_type, headers=headers)


def flag(signed_key: Any, item: Any, **overrides: Any) -> Subject:
    """Flag one item of a user through the API and process it; the user's subject."""
    response = signed_key.post(item(1, **overrides))
    assert response.status_code == 202, response.content
    batch = batch_process(batch_id=response.json()["batch_id"])
    assert batch is not None
    return Subject.objects.get(items__batch=batch)


@pytest.fixture
def subject(signed_key: Any, item: Any) -> Subject:
    """u-42 of acme: warned after 1 violation in 4 reviewed items."""
    flagged = flag(signed_key, item, user_id="u-42")
    Subject.objects.filter(pk=flagged.pk).update(
        status="warned",
        violations=1,
        reviewed=4,
        updated_at=datetime(2026, 11, 22, 10, 0, tzinfo=UTC),
    )
    return Subject.objects.get(pk=flagged.pk)


def test_it_answers_every_field_by_user_id(signed_key, subject):
    response = lookup(signed_key, {"organization": "acme", "user_id": "u-42"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == FIELDS
    assert body == {
        "organization": "acme",
        "user_id_hash": subject_hash(organization_slug="acme", user_id="u-42"),
        "status": "warned",
        "violations": 1,
        "reviewed": 4,
        "violation_rate": 0.25,
        "window_days": 30,
        "updated_at": "2026-11-22T10:00:00Z",
    }


def test_it_answers_by_user_id_hash(signed_key, subject):
    response = lookup(signed_key, {"organization": "acme", "user_id_hash": subject.user_id_hash})
    assert response.status_code == 200
    assert response.json()["user_id_hash"] == subject.user_id_hash
    assert response.json()["status"] == "warned"


def test_it_finds_a_user_flagged_by_a_hash_the_upstream_made(signed_key, item):
    given = "fe" * 32
    payload = item(1, user_id_hash=given)
    del payload["user_id"]
    batch_process(batch_id=signed_key.post(payload).json()["batch_id"])
    response = lookup(signed_key, {"user_id_hash": given})
    assert response.status_code == 200
    assert response.json()["status"] == "active"


def test_a_bound_key_may_leave_out_its_organization(signed_key, subject):
    response = lookup(signed_key, {"user_id": "u-42"})
    assert response.status_code == 200
    assert response.json()["organization"] == "acme"


def test_a_fresh_subject_is_active_with_a_rate_of_zero(signed_key, item):
    flag(signed_key, item, user_id="u-new")
    body = lookup(signed_key, {"user_id": "u-new"}).json()
    assert (body["status"], body["violations"], body["reviewed"]) == ("active", 0, 0)
    assert body["violation_rate"] == 0.0
    assert datetime.fromisoformat(body["updated_at"]).tzinfo is not None


def test_the_window_follows_the_organizations_thresholds(signed_key, subject, acme):
    assert lookup(signed_key, {"user_id": "u-42"}).json()["window_days"] == 30
    Thresholds.objects.create(organization=acme, window_days=7)
    assert lookup(signed_key, {"user_id": "u-42"}).json()["window_days"] == 7


def test_an_unbound_key_names_the_organization(unbound_key, item):
    flag(unbound_key, item, organization="globex", user_id="u-7")
    response = lookup(unbound_key, {"organization": "globex", "user_id": "u-7"})
    assert response.status_code == 200
    assert response.json()["organization"] == "globex"


# --- 404 -------------------------------------------------------------------------------


def test_it_answers_404_for_a_user_never_flagged(signed_key, subject):
    response = lookup(signed_key, {"organization": "acme", "user_id": "u-never"})
    assert response.status_code == 404
    assert response.json()["errors"][0]["message"]


def test_it_answers_404_for_a_hash_never_flagged(signed_key, subject):
    assert lookup(signed_key, {"user_id_hash": "00" * 32}).status_code == 404


def test_the_other_teams_user_of_the_same_id_is_not_found(signed_key, other_key, subject):
    # globex's key defaults to globex, where u-42 was never flagged.
    assert lookup(other_key, {"user_id": "u-42"}).status_code == 404
    # acme's hash of u-42 means nothing in globex either.
    assert lookup(other_key, {"user_id_hash": subject.user_id_hash}).status_code == 404


def test_an_unbound_key_gets_404_for_an_unknown_organization(unbound_key):
    response = lookup(unbound_key, {"organization": "initech", "user_id": "u-1"})
    assert response.status_code == 404


# --- 401 / 403 / 405 -------------------------------------------------------------------


def test_it_answers_401_without_a_bearer(signed_key, subject):
    response = signed_key.client.post(
        URL, data=json.dumps({"user_id": "u-42"}), content_type="application/json"
    )
    assert response.status_code == 401


def test_it_answers_401_to_a_bad_bearer(signed_key, subject):
    response = lookup(signed_key, {"user_id": "u-42"}, secret="whsec_bm90LWEtc2VjcmV0")
    assert response.status_code == 401


def test_it_answers_401_to_a_revoked_key(signed_key, subject):
    api_key_revoke(api_key=signed_key.api_key)
    assert lookup(signed_key, {"user_id": "u-42"}).status_code == 401


def test_it_answers_403_to_a_bound_key_asking_about_another_organization(
    signed_key, other_key, subject
):
    response = lookup(other_key, {"organization": "acme", "user_id": "u-42"})
    assert response.status_code == 403
    body = response.json()
    assert body["errors"][0]["path"] == "organization"
    assert subject.user_id_hash not in json.dumps(body)


def test_it_answers_403_even_for_an_organization_that_does_not_exist(signed_key):
    # Refused before the lookup, so a key cannot probe which organizations exist.
    assert lookup(signed_key, {"organization": "initech", "user_id": "u-1"}).status_code == 403


def test_it_answers_405_to_get(signed_key):
    response = signed_key.client.get(URL, headers={"Authorization": f"Bearer {signed_key.secret}"})
    assert response.status_code == 405


# --- 400 / 415 / 422 -------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_it_answers_415_to_other_content_types(signed_key, subject, content_type):
    response = lookup(signed_key, {"user_id": "u-42"}, content_type=content_type)
    assert response.status_code == 415


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1, 2]", b'"u-42"', b"null", b"\xff\xfe{}"],
    ids=["broken", "array", "string", "null", "not-utf8"],
)
def test_it_answers_400_to_a_body_that_is_not_a_json_object(signed_key, raw):
    response = lookup(signed_key, None, raw=raw)
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({}, "user_id"),
        ({"user_id": "u-42", "user_id_hash": "ab" * 32}, "user_id"),
        ({"user_id": ""}, "user_id"),
        ({"user_id": 42}, "user_id"),
        ({"user_id": "u" * 257}, "user_id"),
        ({"user_id_hash": "AB" * 32}, "user_id_hash"),
        ({"user_id_hash": "ab" * 31}, "user_id_hash"),
        ({"user_id_hash": ["ab" * 32]}, "user_id_hash"),
        ({"organization": "", "user_id": "u-42"}, "organization"),
        ({"organization": 7, "user_id": "u-42"}, "organization"),
    ],
)
def test_it_answers_422_naming_the_broken_rule(signed_key, body, path):
    response = lookup(signed_key, body)
    assert response.status_code == 422, response.content
    assert path in {e["path"] for e in response.json()["errors"]}


def test_an_unbound_key_must_name_the_organization(unbound_key):
    response = lookup(unbound_key, {"user_id": "u-42"})
    assert response.status_code == 422
    assert [e["path"] for e in response.json()["errors"]] == ["organization"]


# --- live figures ----------------------------------------------------------------------


def test_it_reports_the_live_status_and_figures_as_decisions_move_the_user(
    signed_key, item, reviewer
):
    items = []
    for n in range(1, 5):
        response = signed_key.post(item(n, user_id="u-9"))
        batch_process(batch_id=response.json()["batch_id"])
        items.append(FlaggedItem.objects.get(batch_id=response.json()["batch_id"]))

    def figures_after(verdict: Verdict, flagged: FlaggedItem) -> tuple[Any, ...]:
        decide(flagged, verdict, "violence", reviewer=reviewer)
        body = lookup(signed_key, {"user_id": "u-9"}).json()
        assert set(body) == FIELDS
        return body["status"], body["violations"], body["reviewed"], body["violation_rate"]

    assert lookup(signed_key, {"user_id": "u-9"}).json()["status"] == "active"
    verdicts = [Verdict.VIOLATION, Verdict.NO_VIOLATION, Verdict.VIOLATION, Verdict.VIOLATION]
    seen = [
        figures_after(verdict, flagged) for verdict, flagged in zip(verdicts, items, strict=True)
    ]
    assert seen == [
        ("warned", 1, 1, 1.0),
        ("warned", 1, 2, 0.5),
        ("warned", 2, 3, pytest.approx(2 / 3)),
        ("restricted", 3, 4, 0.75),
    ]
    subject = Subject.objects.get(
        user_id_hash=subject_hash(organization_slug="acme", user_id="u-9")
    )
    updated = lookup(signed_key, {"user_id": "u-9"}).json()["updated_at"]
    assert datetime.fromisoformat(updated) == subject.updated_at
