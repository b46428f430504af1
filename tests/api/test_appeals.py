"""POST /api/v1/appeals/<key_id> (CONTRACT §4b): a user contests an action, signed as in §3."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from moderation.models import (
    ActionKind,
    ActionState,
    ApiKey,
    Appeal,
    AppealState,
    AuditAction,
    AuditEvent,
    EnforcementAction,
    Subject,
    Verdict,
)
from moderation.services.appeals import appeal_decide
from moderation.services.enforcement import action_by_hand, removal_approve
from moderation.services.organizations import api_key_revoke
from moderation.services.subjects import subject_hash
from tests.conftest import SignedKey
from tests.factories import SubjectFactory, decide

pytestmark = pytest.mark.django_db


def url_of(key: SignedKey) -> str:
    return f"/api/v1/appeals/{key.api_key.key_id}"


def appeal(
    key: SignedKey,
    body: Any,
    *,
    raw: bytes | None = None,
    content_type: str = "application/json",
    **header_options: Any,
) -> Any:
    data = raw if raw is not None else json.dumps(body).encode()
    headers = key.headers(data.decode("utf-8", "replace"), **header_options)
    return key.client.post(url_of(key), data=data, content_type=content_type, headers=headers)


def paths_of(response: Any) -> set[str]:
    return {e["path"] for e in response.json()["errors"]}


def user_of(organization: Any, user_id: str) -> Subject:
    return SubjectFactory(
        organization=organization,
        user_id_hash=subject_hash(organization_slug=organization.slug, user_id=user_id),
    )


def body_for(action: EnforcementAction, **overrides: Any) -> dict[str, Any]:
    body = {
        "organization": "acme",
        "user_id": "u-42",
        "action_id": str(action.pk),
        "message": "I was quoting a news article.",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


# --- 202 -----------------------------------------------------------------------------------


def test_it_accepts_an_appeal_by_user_id(signed_key, warning):
    response = appeal(signed_key, body_for(warning))
    assert response.status_code == 202
    assert set(response.json()) == {"appeal_id"}
    record = Appeal.objects.get(pk=response.json()["appeal_id"])
    assert record.action == warning and record.state == AppealState.OPEN
    assert record.message == "I was quoting a news article."
    event = AuditEvent.objects.get(action=AuditAction.APPEAL_RECEIVED)
    assert event.actor is None and event.subject == warning.subject
    assert event.detail == {"appeal": str(record.pk), "action": str(warning.pk)}


def test_it_accepts_an_appeal_by_user_id_hash(signed_key, warning):
    body = body_for(warning, user_id=None, user_id_hash=warning.subject.user_id_hash)
    response = appeal(signed_key, body)
    assert response.status_code == 202
    assert Appeal.objects.get().action == warning


def test_a_bound_key_may_leave_out_its_organization(signed_key, warning):
    assert appeal(signed_key, body_for(warning, organization=None)).status_code == 202


def test_an_unbound_key_names_the_organization(unbound_key, warning):
    assert appeal(unbound_key, body_for(warning)).status_code == 202
    response = appeal(unbound_key, body_for(warning, organization=None))
    assert response.status_code == 422 and paths_of(response) == {"organization"}


def test_it_accepts_a_message_of_5000_characters(signed_key, warning):
    response = appeal(signed_key, body_for(warning, message="é" * 5000))
    assert response.status_code == 202
    assert len(Appeal.objects.get().message) == 5000


def test_it_accepts_an_appeal_of_an_approved_removal(signed_key, warning, reviewer, senior):
    for _ in range(4):
        decide(warning.subject, Verdict.VIOLATION, reviewer=reviewer)
    removal = warning.subject.actions.get(state=ActionState.PROPOSED)
    removal_approve(action=removal, user=senior)
    assert appeal(signed_key, body_for(removal)).status_code == 202


# --- 404 -----------------------------------------------------------------------------------


def test_it_answers_404_for_an_unknown_action(signed_key, warning):
    for action_id in (str(uuid.uuid4()), "not-a-uuid"):
        response = appeal(signed_key, body_for(warning, action_id=action_id))
        assert response.status_code == 404, action_id
        assert paths_of(response) == {"action_id"}
    assert not Appeal.objects.exists()


def test_it_answers_404_for_another_users_action(signed_key, warning):
    user_of(warning.subject.organization, "u-7")
    assert appeal(signed_key, body_for(warning, user_id="u-7")).status_code == 404
    assert appeal(signed_key, body_for(warning, user_id="u-never-flagged")).status_code == 404


def test_it_answers_404_for_another_organizations_action(signed_key, globex, reviewer):
    theirs = user_of(globex, "u-42")
    decide(theirs, Verdict.VIOLATION, reviewer=reviewer)
    action = theirs.actions.get()
    assert appeal(signed_key, body_for(action)).status_code == 404
    assert not Appeal.objects.exists()


def test_it_answers_404_for_a_reinstatement(signed_key, warning, senior):
    reinstate = action_by_hand(
        subject=warning.subject, kind=ActionKind.REINSTATE, user=senior, reason="mistake"
    )
    assert appeal(signed_key, body_for(reinstate)).status_code == 404


def test_it_answers_404_for_a_removal_only_proposed(signed_key, warning, reviewer):
    decide(warning.subject, Verdict.VIOLATION, "weapons", reviewer=reviewer)
    proposal = warning.subject.actions.get(state=ActionState.PROPOSED)
    assert appeal(signed_key, body_for(proposal)).status_code == 404


# --- 409 -----------------------------------------------------------------------------------


def test_it_answers_409_while_an_appeal_of_the_action_is_open(signed_key, warning, senior):
    first = appeal(signed_key, body_for(warning))
    again = appeal(signed_key, body_for(warning, message="Please look again."))
    assert again.status_code == 409 and paths_of(again) == {"action_id"}
    assert Appeal.objects.count() == 1
    appeal_decide(
        appeal=Appeal.objects.get(pk=first.json()["appeal_id"]),
        user=senior,
        upheld=False,
        reason="The quote was the user's own request.",
    )
    after = appeal(signed_key, body_for(warning, message="New evidence."))
    assert after.status_code == 202
    assert Appeal.objects.count() == 2


# --- 200: a replay (v2) ----------------------------------------------------------------------


def test_an_exact_replay_answers_200_with_the_first_answer(signed_key, warning):
    body = json.dumps(body_for(warning)).encode()
    headers = signed_key.headers(body.decode())
    first = signed_key.client.post(
        url_of(signed_key), data=body, content_type="application/json", headers=headers
    )
    assert first.status_code == 202
    for _ in range(2):
        replay = signed_key.client.post(
            url_of(signed_key), data=body, content_type="application/json", headers=headers
        )
        assert replay.status_code == 200, replay.content
        assert replay.json() == {"appeal_id": first.json()["appeal_id"], "duplicate": True}
    record = Appeal.objects.get()
    assert record.api_key == signed_key.api_key and record.webhook_id == headers["webhook-id"]
    assert AuditEvent.objects.filter(action=AuditAction.APPEAL_RECEIVED).count() == 1


def test_a_replay_after_the_appeal_was_decided_is_still_the_first_answer(
    signed_key, warning, senior
):
    body = json.dumps(body_for(warning)).encode()
    headers = signed_key.headers(body.decode())
    first = signed_key.client.post(
        url_of(signed_key), data=body, content_type="application/json", headers=headers
    )
    appeal_decide(appeal=Appeal.objects.get(), user=senior, upheld=False, reason="It was not.")
    replay = signed_key.client.post(
        url_of(signed_key), data=body, content_type="application/json", headers=headers
    )
    assert replay.status_code == 200
    assert replay.json() == {"appeal_id": first.json()["appeal_id"], "duplicate": True}
    assert Appeal.objects.count() == 1


def test_the_same_webhook_id_from_another_key_is_not_a_replay(signed_key, unbound_key, warning):
    msg_id = "msg_shared_id"
    assert appeal(signed_key, body_for(warning), msg_id=msg_id).status_code == 202
    again = appeal(unbound_key, body_for(warning), msg_id=msg_id)
    assert again.status_code == 409
    assert Appeal.objects.count() == 1


def test_it_answers_400_to_a_webhook_id_over_256_characters(signed_key, warning):
    response = appeal(signed_key, body_for(warning), msg_id="m" * 257)
    assert response.status_code == 400
    assert not Appeal.objects.exists()


# --- 400 / 401 / 403 / 405 / 415 ------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1, 2]", b'"appeal"', b"null"],
    ids=["broken", "array", "string", "null"],
)
def test_it_answers_400_to_a_body_that_is_not_a_json_object(signed_key, warning, raw):
    response = appeal(signed_key, None, raw=raw)
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"]


def test_it_answers_401_to_a_bad_signature(signed_key, other_key, warning):
    assert appeal(signed_key, body_for(warning), secret=other_key.secret).status_code == 401
    body = json.dumps(body_for(warning))
    headers = signed_key.headers(body)
    tampered = body.replace("quoting", "QUOTING")
    response = signed_key.client.post(
        url_of(signed_key), data=tampered, content_type="application/json", headers=headers
    )
    assert response.status_code == 401
    assert not Appeal.objects.exists()


def test_it_answers_401_without_signature_headers(signed_key, warning):
    response = signed_key.client.post(
        url_of(signed_key), data=json.dumps(body_for(warning)), content_type="application/json"
    )
    assert response.status_code == 401


def test_it_answers_401_for_an_unknown_or_revoked_key(client, signed_key, warning):
    response = client.post(
        "/api/v1/appeals/key_doesnotexist",
        data=json.dumps(body_for(warning)),
        content_type="application/json",
    )
    assert response.status_code == 401
    api_key_revoke(api_key=signed_key.api_key)
    assert appeal(signed_key, body_for(warning)).status_code == 401


def test_it_answers_403_to_a_bound_key_of_another_organization(other_key, warning):
    response = appeal(other_key, body_for(warning))
    assert response.status_code == 403 and paths_of(response) == {"organization"}
    assert not Appeal.objects.exists()


def test_it_answers_405_to_get(signed_key):
    assert signed_key.client.get(url_of(signed_key)).status_code == 405


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_it_answers_415_to_other_content_types(signed_key, warning, content_type):
    response = appeal(signed_key, body_for(warning), content_type=content_type)
    assert response.status_code == 415


# --- 422 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"message": None}, "message"),
        ({"message": ""}, "message"),
        ({"message": "x" * 5001}, "message"),
        ({"message": ["a list"]}, "message"),
        ({"action_id": None}, "action_id"),
        ({"action_id": ""}, "action_id"),
        ({"action_id": 42}, "action_id"),
        ({"reply_to": "user@example.com"}, "reply_to"),
        ({"user_id_hash": "ab" * 32}, "user_id"),
        ({"user_id": None}, "user_id"),
        ({"user_id": None, "user_id_hash": "AB" * 32}, "user_id_hash"),
        ({"organization": ""}, "organization"),
    ],
)
def test_it_answers_422_naming_the_broken_rule(signed_key, warning, overrides, path):
    response = appeal(signed_key, body_for(warning, **overrides))
    assert response.status_code == 422, response.content
    assert path in paths_of(response)
    assert not Appeal.objects.exists()


def test_it_names_every_broken_field_at_once(signed_key, warning):
    body = {"user_id": "u-42", "message": "", "extra": 1}
    response = appeal(signed_key, body)
    assert response.status_code == 422
    assert paths_of(response) == {"action_id", "message", "extra"}


# --- 429 -----------------------------------------------------------------------------------


def test_it_answers_429_past_the_keys_rate(signed_key, warning, redis_clean):
    ApiKey.objects.filter(pk=signed_key.api_key.pk).update(rate_per_second=1, rate_burst=2)
    assert appeal(signed_key, body_for(warning)).status_code == 202
    assert appeal(signed_key, body_for(warning)).status_code == 409
    limited = appeal(signed_key, body_for(warning))
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert Appeal.objects.count() == 1
