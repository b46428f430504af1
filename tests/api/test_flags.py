"""POST /api/v1/flags/<key_id> (CONTRACT §3): every answer, every limit, all or nothing."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from moderation.models import ApiKey, FlaggedItem, InboundBatch
from moderation.services.organizations import (
    api_key_retire_old_secrets,
    api_key_revoke,
    api_key_rotate,
)
from moderation.services.subjects import subject_hash

pytestmark = pytest.mark.django_db


def errors_of(response: Any) -> list[dict[str, str]]:
    return response.json()["errors"]


def paths_of(response: Any) -> set[str]:
    return {e["path"] for e in errors_of(response)}


def test_it_accepts_one_item(signed_key, item):
    response = signed_key.post(item(1))
    assert response.status_code == 202
    body = response.json()
    assert body["received"] == 1
    batch = InboundBatch.objects.get(pk=body["batch_id"])
    assert batch.status == "pending" and batch.received == 1


def test_it_accepts_a_batch(signed_key, item):
    response = signed_key.post({"items": [item(n) for n in range(25)]})
    assert response.status_code == 202
    assert response.json()["received"] == 25


def test_it_stores_the_hash_never_the_raw_user_id(signed_key, item):
    response = signed_key.post(item(1, user_id="alice@example.com"))
    batch = InboundBatch.objects.get(pk=response.json()["batch_id"])
    stored = json.dumps(batch.payload)
    assert "alice@example.com" not in stored
    assert batch.payload[0]["user_id_hash"] == subject_hash(
        organization_slug="acme", user_id="alice@example.com"
    )


def test_it_stores_a_given_hash_as_is(signed_key, item):
    given = "ab" * 32
    payload = item(1)
    del payload["user_id"]
    payload["user_id_hash"] = given
    response = signed_key.post(payload)
    assert response.status_code == 202
    assert InboundBatch.objects.get().payload[0]["user_id_hash"] == given


def test_it_accepts_aliases_and_stores_the_category_slug(signed_key, item):
    response = signed_key.post(item(1, signals=[{"classifier": "m", "category": "S3", "score": 1}]))
    assert response.status_code == 202
    signal = InboundBatch.objects.get().payload[0]["signals"][0]
    assert signal["category"] == "child-safety" and signal["label"] == "S3"


def test_it_answers_a_replayed_webhook_id_with_the_first_answer(signed_key, item):
    first = signed_key.post(item(1), msg_id="msg_replay")
    again = signed_key.post(item(2), msg_id="msg_replay")
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json() == {**first.json(), "duplicate": True}
    assert InboundBatch.objects.count() == 1


def test_the_same_webhook_id_from_another_key_is_not_a_replay(signed_key, other_key, item):
    assert signed_key.post(item(1), msg_id="msg_shared").status_code == 202
    assert other_key.post(item(1), msg_id="msg_shared").status_code == 202


def test_it_rejects_get(signed_key):
    assert signed_key.client.get(signed_key.url).status_code == 405


# --- 400 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1, 2]", b'"a string"', b"null", b'{"request_id": NaN}', b"\xff\xfe{}"],
    ids=["broken", "array", "string", "null", "nan", "not-utf8"],
)
def test_it_answers_400_to_a_body_that_is_not_a_json_object(signed_key, raw):
    response = signed_key.post(None, raw=raw)
    assert response.status_code == 400
    assert errors_of(response)[0]["message"]
    assert InboundBatch.objects.count() == 0


# --- 401 -------------------------------------------------------------------------------


def test_it_answers_401_without_signature_headers(signed_key, item):
    response = signed_key.client.post(
        signed_key.url, data=json.dumps(item(1)), content_type="application/json"
    )
    assert response.status_code == 401
    assert "missing header" in errors_of(response)[0]["message"]


def test_it_answers_401_to_a_tampered_body(signed_key, item):
    body = json.dumps(item(1))
    headers = signed_key.headers(body)
    tampered = body.replace("variant", "VARIANT")
    response = signed_key.client.post(
        signed_key.url, data=tampered, content_type="application/json", headers=headers
    )
    assert response.status_code == 401
    assert InboundBatch.objects.count() == 0


def test_it_answers_401_to_a_signature_by_another_keys_secret(signed_key, other_key, item):
    response = signed_key.post(item(1), secret=other_key.secret)
    assert response.status_code == 401


def test_it_answers_401_to_a_malformed_signature(signed_key, item):
    body = json.dumps(item(1))
    headers = signed_key.headers(body)
    for bad in ["v1", "v1,!!!notbase64", "v2,abc", ""]:
        headers["webhook-signature"] = bad
        response = signed_key.client.post(
            signed_key.url, data=body, content_type="application/json", headers=headers
        )
        assert response.status_code == 401, bad


def test_it_answers_401_for_an_unknown_key(client, item, db):
    response = client.post(
        "/api/v1/flags/key_doesnotexist", data=json.dumps(item(1)), content_type="application/json"
    )
    assert response.status_code == 401


def test_it_answers_401_for_a_revoked_key(signed_key, item):
    api_key_revoke(api_key=signed_key.api_key)
    assert signed_key.post(item(1)).status_code == 401


@pytest.mark.parametrize("skew", [-302, 302, -3600])
def test_it_answers_401_outside_the_timestamp_window(signed_key, item, skew):
    response = signed_key.post(item(1), timestamp=time.time() + skew)
    assert response.status_code == 401
    assert "timestamp" in errors_of(response)[0]["message"]


@pytest.mark.parametrize("skew", [-290, 290])
def test_it_accepts_timestamps_inside_the_window(signed_key, item, skew):
    assert signed_key.post(item(1), timestamp=time.time() + skew).status_code == 202


def test_it_accepts_both_secrets_during_a_rotation(signed_key, item):
    old = signed_key.secret
    new = api_key_rotate(api_key=signed_key.api_key)
    assert signed_key.post(item(1), secret=old).status_code == 202
    assert signed_key.post(item(2), secret=new).status_code == 202
    api_key_retire_old_secrets(api_key=signed_key.api_key)
    assert signed_key.post(item(3), secret=old).status_code == 401
    assert signed_key.post(item(4), secret=new).status_code == 202


def test_it_accepts_a_signature_list_with_one_good_entry(signed_key, item):
    body = json.dumps(item(1))
    headers = signed_key.headers(body)
    headers["webhook-signature"] = "v1,AAAA " + headers["webhook-signature"]
    response = signed_key.client.post(
        signed_key.url, data=body, content_type="application/json", headers=headers
    )
    assert response.status_code == 202


def test_it_records_when_a_key_was_last_used(signed_key, item):
    assert signed_key.api_key.last_used_at is None
    signed_key.post(item(1))
    assert ApiKey.objects.get(pk=signed_key.api_key.pk).last_used_at is not None


# --- 413 / 415 -------------------------------------------------------------------------


def test_it_answers_413_to_a_body_over_one_mebibyte(signed_key, item):
    big = item(1, prompt="x" * (1024 * 1024))
    response = signed_key.post(big)
    assert response.status_code == 413
    assert InboundBatch.objects.count() == 0


def test_it_accepts_a_body_of_exactly_one_mebibyte(signed_key, item):
    payload = item(1, prompt="")
    filler = 1024 * 1024 - len(json.dumps({**payload, "prompt": ""}).encode())
    payload["prompt"] = "x" * filler
    # 1 MiB of body holds more than the 100,000 characters a prompt may have: 422, not 413.
    response = signed_key.post(payload)
    assert len(json.dumps(payload).encode()) == 1024 * 1024
    assert response.status_code == 422
    assert paths_of(response) == {"prompt"}


def test_it_answers_413_to_more_than_500_items(signed_key, item):
    response = signed_key.post({"items": [item(n, prompt="p") for n in range(501)]})
    assert response.status_code == 413
    assert InboundBatch.objects.count() == 0


def test_it_accepts_exactly_500_items(signed_key, item):
    response = signed_key.post({"items": [item(n, prompt="p") for n in range(500)]})
    assert response.status_code == 202
    assert response.json()["received"] == 500


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_it_answers_415_to_other_content_types(signed_key, item, content_type):
    response = signed_key.post(item(1), content_type=content_type)
    assert response.status_code == 415


def test_it_accepts_json_with_a_charset(signed_key, item):
    response = signed_key.post(item(1), content_type="application/json; charset=utf-8")
    assert response.status_code == 202


# --- 422 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"request_id": ""}, "request_id"),
        ({"request_id": "r" * 129}, "request_id"),
        ({"request_id": 42}, "request_id"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "p" * 100_001}, "prompt"),
        ({"response": "r" * 100_001}, "response"),
        ({"model": "m" * 129}, "model"),
        ({"flagged_at": "yesterday"}, "flagged_at"),
        ({"flagged_at": "2026-11-22T10:00:00"}, "flagged_at"),
        ({"flagged_at": 1764000000}, "flagged_at"),
        ({"flagged_at": "2999-01-01T00:00:00Z"}, "flagged_at"),
        ({"signals": []}, "signals"),
        ({"signals": [{"classifier": "c", "category": "violence", "score": 0.5}] * 21}, "signals"),
        (
            {"signals": [{"classifier": "c", "category": "nope", "score": 0.5}]},
            "signals[0].category",
        ),
        (
            {"signals": [{"classifier": "c", "category": "violence", "score": 1.5}]},
            "signals[0].score",
        ),
        (
            {"signals": [{"classifier": "c", "category": "violence", "score": -0.1}]},
            "signals[0].score",
        ),
        (
            {"signals": [{"classifier": "c", "category": "violence", "score": "0.5"}]},
            "signals[0].score",
        ),
        (
            {"signals": [{"classifier": "c", "category": "violence", "score": True}]},
            "signals[0].score",
        ),
        ({"signals": [{"category": "violence", "score": 0.5}]}, "signals[0].classifier"),
        ({"metadata": {"blob": "x" * 8200}}, "metadata"),
        ({"metadata": ["not", "an", "object"]}, "metadata"),
        ({"user_id_hash": "AB" * 32}, "user_id_hash"),
        ({"user_id": None}, "user_id"),
        ({"organization": "globex"}, "organization"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_it_answers_422_naming_the_broken_rule(signed_key, item, globex, overrides, path):
    response = signed_key.post(item(1, **overrides))
    assert response.status_code == 422, response.content
    assert path in paths_of(response)
    assert all(e["message"] for e in errors_of(response))
    assert InboundBatch.objects.count() == 0


def test_it_accepts_the_limits_themselves(signed_key, item):
    payload = item(
        1,
        request_id="r" * 128,
        prompt="p" * 100_000,
        response="r" * 100_000,
        model="m" * 128,
        flagged_at="2026-01-01T00:00:00+02:00",
        signals=[{"classifier": "c", "category": "violence", "score": s / 20} for s in range(20)],
        metadata={"blob": "x" * 8000},
    )
    assert signed_key.post(payload).status_code == 202


def test_it_reports_every_error_at_once_and_stores_nothing(signed_key, item):
    items = [item(n) for n in range(6)]
    items[1]["prompt"] = ""
    items[3]["signals"][0]["category"] = "unknown"
    items[3]["request_id"] = ""
    items[5] = "not an object"
    response = signed_key.post({"items": items})
    assert response.status_code == 422
    assert paths_of(response) == {
        "items[1].prompt",
        "items[3].signals[0].category",
        "items[3].request_id",
        "items[5]",
    }
    assert InboundBatch.objects.count() == 0
    assert FlaggedItem.objects.count() == 0


def test_it_answers_422_to_an_empty_batch(signed_key):
    response = signed_key.post({"items": []})
    assert response.status_code == 422
    assert paths_of(response) == {"items"}


def test_it_answers_422_when_both_user_id_and_hash_are_given(signed_key, item):
    response = signed_key.post(item(1, user_id_hash="ab" * 32))
    assert response.status_code == 422
    assert "user_id_hash" in paths_of(response)


def test_a_bound_key_may_name_its_own_organization(signed_key, item):
    assert signed_key.post(item(1, organization="acme")).status_code == 202


def test_an_unbound_key_must_name_an_existing_organization(unbound_key, item):
    assert "organization" in paths_of(unbound_key.post(item(1)))
    assert "organization" in paths_of(unbound_key.post(item(1, organization="initech")))
    assert unbound_key.post(item(1, organization="globex")).status_code == 202


# --- 429 -------------------------------------------------------------------------------


def test_it_answers_429_with_retry_after_past_the_keys_rate(signed_key, item, redis_clean):
    ApiKey.objects.filter(pk=signed_key.api_key.pk).update(rate_per_second=1, rate_burst=3)
    answers = [signed_key.post(item(n)).status_code for n in range(5)]
    assert answers[:3] == [202, 202, 202]
    assert 429 in answers[3:]
    limited = signed_key.post(item(9))
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert InboundBatch.objects.count() == 3


def test_the_rate_limit_is_per_key(signed_key, other_key, item, redis_clean):
    ApiKey.objects.filter(pk=signed_key.api_key.pk).update(rate_per_second=1, rate_burst=1)
    assert signed_key.post(item(1)).status_code == 202
    assert signed_key.post(item(2)).status_code == 429
    assert other_key.post(item(3)).status_code == 202


def test_the_default_rate_allows_a_burst_of_100(signed_key, item, redis_clean):
    answers = [signed_key.post(item(n, prompt="p")).status_code for n in range(100)]
    assert answers.count(202) == 100
