"""Hostile bodies on every JSON endpoint (CONTRACT §3 v2): never a 5xx, nothing stored on a 4xx,
no request text in the logs.

Explicit cases for each malformed input found (issue 9, finding 2); the Hypothesis fuzz tests
are in tests/api/test_fuzz.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import pytest

from moderation.models import (
    Appeal,
    AuditEvent,
    EnforcementAction,
    FlaggedItem,
    InboundBatch,
)
from tests.conftest import SignedKey, make_item

pytestmark = pytest.mark.django_db

LOOKUP_URL = "/api/v1/subjects/lookup"
# Every prompt, message and user id below carries this, so a log line holding request text
# is found whatever the path it took.
MARKER = "zq-secret-prompt-text"
DEEP = 100_000  # far past the interpreter's recursion limit


# --- posting ---------------------------------------------------------------------------------


def _signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """A Standard Webhooks signature over the raw bytes (the bodies here need not be UTF-8)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def post_signed(key: SignedKey, url: str, body: bytes) -> Any:
    msg_id, timestamp = f"msg_{uuid.uuid4().hex}", int(time.time())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": _signature(key.secret, msg_id, timestamp, body),
    }
    return key.client.post(url, data=body, content_type="application/json", headers=headers)


def post_flags(key: SignedKey, body: bytes) -> Any:
    return post_signed(key, key.url, body)


def post_appeal(key: SignedKey, body: bytes) -> Any:
    return post_signed(key, f"/api/v1/appeals/{key.api_key.key_id}", body)


def post_lookup(key: SignedKey, body: bytes) -> Any:
    return key.client.post(LOOKUP_URL, data=body, content_type="application/json", **_bearer(key))


def _bearer(key: SignedKey) -> dict[str, Any]:
    return {"headers": key.bearer()}


def stored() -> tuple[int, int, int, int]:
    return (
        InboundBatch.objects.count(),
        FlaggedItem.objects.count(),
        Appeal.objects.count(),
        AuditEvent.objects.count(),
    )


def errors_of(response: Any) -> list[dict[str, str]]:
    return response.json()["errors"]


def paths_of(response: Any) -> set[str]:
    return {e["path"] for e in errors_of(response)}


def flag_item(**overrides: Any) -> dict[str, Any]:
    return make_item(1, **{"prompt": f"{MARKER} how do I pick a lock", **overrides})


def appeal_body(action: EnforcementAction, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "organization": "acme",
        "user_id": "u-42",
        "action_id": str(action.pk),
        "message": f"{MARKER} I was quoting a news article.",
    }
    body.update(overrides)
    return body


def lookup_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"organization": "acme", "user_id": "u-42"}
    body.update(overrides)
    return body


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def assert_refused(response: Any, status: int, before: tuple[int, ...], caplog: Any) -> None:
    assert response.status_code == status, response.content
    assert all(e["message"] for e in errors_of(response))
    assert stored() == before
    assert MARKER not in caplog.text
    assert all(MARKER not in str(r.args) for r in caplog.records)


# --- deep nesting: 400 "nested too deeply" -------------------------------------------------


@pytest.mark.parametrize("depth", [DEEP, 5_000, 200])
def test_it_answers_400_to_a_body_nested_too_deeply(key, depth, caplog):
    before = stored()
    for post, body in [
        (post_flags, '{"prompt": ' + nested(depth) + "}"),
        (post_flags, '{"items": ' + nested(depth, json.dumps(flag_item())) + "}"),
        (post_appeal, '{"message": ' + nested(depth) + "}"),
        (post_lookup, '{"user_id": ' + nested(depth, '{"a": 1}') + "}"),
    ]:
        response = post(key, body.encode())
        assert_refused(response, 400, before, caplog)
        assert "nested too deeply" in errors_of(response)[0]["message"]


def test_it_answers_400_to_deeply_nested_metadata(key, caplog):
    before = stored()
    text = json.dumps(flag_item(metadata={}))
    text = text.replace('"metadata": {}', '"metadata": {"a": ' + nested(DEEP) + "}")
    response = post_flags(key, text.encode())
    assert_refused(response, 400, before, caplog)
    assert "nested too deeply" in errors_of(response)[0]["message"]


def test_it_accepts_metadata_nested_a_few_levels(key):
    metadata = {"a": {"b": {"c": [[{"d": [1, 2, {"e": None}]}]]}}}
    response = post_flags(key, dumps(flag_item(metadata=metadata)))
    assert response.status_code == 202, response.content


# --- NUL characters: 422 at the field's path ------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"prompt": f"{MARKER} \u0000 tail"}, "prompt"),
        ({"response": "ok\u0000"}, "response"),
        ({"model": "\u0000"}, "model"),
        ({"request_id": "req\u0000"}, "request_id"),
        ({"user_id": "u\u000042"}, "user_id"),
        ({"organization": "acme\u0000"}, "organization"),
        ({"flagged_at": "2026-01-01T00:00:00Z\u0000"}, "flagged_at"),
        (
            {"signals": [{"classifier": "c\u0000", "category": "violence", "score": 0.5}]},
            "signals[0].classifier",
        ),
        (
            {"signals": [{"classifier": "c", "category": "vio\u0000lence", "score": 0.5}]},
            "signals[0].category",
        ),
        ({"metadata": {"note": "a\u0000b"}}, "metadata.note"),
        ({"metadata": {"list": [1, {"deep": "\u0000"}]}}, "metadata.list[1].deep"),
        ({"metadata": {"bad\u0000key": 1}}, "metadata"),
    ],
)
def test_it_answers_422_to_a_nul_character_at_its_path(key, overrides, path, caplog):
    before = stored()
    response = post_flags(key, dumps({"items": [flag_item(), flag_item(**overrides)]}))
    assert_refused(response, 422, before, caplog)
    assert f"items[1].{path}" in paths_of(response)
    assert any("NUL" in e["message"] for e in errors_of(response))


def test_it_answers_422_to_nul_in_a_single_item(key, caplog):
    before = stored()
    response = post_flags(key, dumps(flag_item(prompt=f"{MARKER}\u0000")))
    assert_refused(response, 422, before, caplog)
    assert errors_of(response) == [{"path": "prompt", "message": "must not contain NUL characters"}]


def test_it_reports_nul_with_every_other_error_at_once(key, caplog):
    before = stored()
    response = post_flags(key, dumps(flag_item(prompt=f"{MARKER}\u0000", model="m" * 129)))
    assert_refused(response, 422, before, caplog)
    assert paths_of(response) == {"prompt", "model"}


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"message": f"{MARKER}\u0000"}, "message"),
        ({"user_id": "u-42\u0000"}, "user_id"),
        ({"organization": "acme\u0000"}, "organization"),
        ({"action_id": "\u0000"}, "action_id"),
    ],
)
def test_it_answers_422_to_nul_in_an_appeal(key, warning, overrides, path, caplog):
    before = stored()
    response = post_appeal(key, dumps(appeal_body(warning, **overrides)))
    assert_refused(response, 422, before, caplog)
    assert path in paths_of(response)


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"user_id": f"{MARKER}\u0000"}, "user_id"),
        ({"organization": "acme\u0000"}, "organization"),
    ],
)
def test_it_answers_422_to_nul_in_a_lookup(key, overrides, path, caplog):
    response = post_lookup(key, dumps(lookup_body(**overrides)))
    assert_refused(response, 422, stored(), caplog)
    assert path in paths_of(response)


# --- unpaired surrogates: text that is not Unicode ----------------------------------------------


@pytest.mark.parametrize(
    ("post", "text", "path"),
    [
        ("flags", '{"prompt": "\\ud800 MARK"}', "prompt"),
        ("flags", '{"user_id": "\\udfff"}', "user_id"),
        ("flags", '{"metadata": {"k": "\\ud83d"}}', "metadata.k"),
        ("appeal", '{"message": "\\ud800"}', "message"),
        ("lookup", '{"user_id": "\\ud800"}', "user_id"),
    ],
)
def test_it_answers_422_to_an_unpaired_surrogate(key, warning, post, text, path, caplog):
    before = stored()
    fields = json.loads(text)
    if post == "flags":
        response = post_flags(key, dumps(flag_item(**fields)))
    elif post == "appeal":
        response = post_appeal(key, dumps(appeal_body(warning, **fields)))
    else:
        response = post_lookup(key, dumps(lookup_body(**fields)))
    assert_refused(response, 422, before, caplog)
    assert path in paths_of(response)


# --- numbers: non-finite, huge -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "path"),
    [
        ("1e400", "metadata.n"),
        ("-1e400", "metadata.n"),
    ],
)
def test_it_answers_422_to_a_non_finite_number_in_metadata(key, number, path, caplog):
    before = stored()
    text = json.dumps(flag_item(metadata={"n": 0})).replace('"n": 0', f'"n": {number}')
    response = post_flags(key, text.encode())
    assert_refused(response, 422, before, caplog)
    assert errors_of(response) == [{"path": path, "message": "must be a finite number"}]


@pytest.mark.parametrize("number", ["1e400", "1" + "0" * 4000, "-" + "9" * 4000, "1e-400"])
def test_it_never_fails_on_a_huge_score(key, number, caplog):
    before = stored()
    text = json.dumps(flag_item()).replace('"score": 0.91', f'"score": {number}')
    response = post_flags(key, text.encode())
    if number == "1e-400":  # underflows to 0.0, a valid score
        assert response.status_code == 202, response.content
        return
    assert_refused(response, 422, before, caplog)
    assert "signals[0].score" in paths_of(response)


@pytest.mark.parametrize("number", ["1e400", "9" * 5000])
def test_it_never_fails_on_a_huge_number_in_an_appeal_or_lookup(key, warning, number, caplog):
    before = stored()
    for post, body in [
        (post_appeal, json.dumps(appeal_body(warning, message=0)).replace("0}", number + "}")),
        (post_lookup, '{"organization": "acme", "user_id": ' + number + "}"),
    ]:
        response = post(key, body.encode())
        assert response.status_code in {400, 422}, response.content
        assert stored() == before
        assert MARKER not in caplog.text


def test_it_answers_400_to_a_number_longer_than_python_reads(key, caplog):
    before = stored()
    text = json.dumps(flag_item(metadata={"n": 0})).replace('"n": 0', '"n": ' + "9" * 5000)
    assert_refused(post_flags(key, text.encode()), 400, before, caplog)


def test_it_accepts_a_big_but_finite_number_in_metadata(key):
    text = json.dumps(flag_item(metadata={"n": 0})).replace('"n": 0', '"n": 1e308')
    assert post_flags(key, text.encode()).status_code == 202


# --- invalid UTF-8 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", [b"\xff\xfe{}", b'{"prompt": "\xc3\x28"}', b'{"a": "\xed\xa0\x80"}']
)
def test_it_answers_400_to_invalid_utf8_everywhere(key, raw, caplog):
    before = stored()
    for post in (post_flags, post_appeal, post_lookup):
        assert_refused(post(key, raw), 400, before, caplog)


def test_it_answers_400_to_a_nul_character_in_the_webhook_id(key, caplog):
    before = stored()
    body = dumps(flag_item())
    msg_id, timestamp = "msg_\u0000x", int(time.time())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": _signature(key.secret, msg_id, timestamp, body),
    }
    response = key.client.post(key.url, data=body, content_type="application/json", headers=headers)
    assert_refused(response, 400, before, caplog)
    assert paths_of(response) == {""}


def test_it_answers_400_to_a_nul_character_in_an_appeals_webhook_id(key, warning, caplog):
    before = stored()
    body = dumps(appeal_body(warning))
    msg_id, timestamp = "msg_\u0000x", int(time.time())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": _signature(key.secret, msg_id, timestamp, body),
    }
    url = f"/api/v1/appeals/{key.api_key.key_id}"
    response = key.client.post(url, data=body, content_type="application/json", headers=headers)
    assert_refused(response, 400, before, caplog)
    assert paths_of(response) == {""}


@pytest.mark.parametrize("items", [None, 5, "abc", {"a": 1}, True])
def test_it_answers_422_to_items_of_the_wrong_type(key, items, caplog):
    before = stored()
    response = post_flags(key, dumps({"items": items}))
    assert_refused(response, 422, before, caplog)
    assert "items" in paths_of(response)
