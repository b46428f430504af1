"""Hostile bodies on every JSON endpoint (CONTRACT §3 v2): never a 5xx, nothing stored on a 4xx,
no request text in the logs.

Explicit cases for each malformed input found (issue 9, finding 2), then Hypothesis strategies
that post nested, huge, non-UTF-8 and NUL-bearing bodies and random JSON values in every field,
signed, to the flags, appeals and subject lookup endpoints.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation.models import (
    ActionKind,
    ApiKey,
    Appeal,
    AuditEvent,
    EnforcementAction,
    FlaggedItem,
    InboundBatch,
    Verdict,
)
from moderation.services.subjects import subject_hash
from tests.conftest import SignedKey, make_item
from tests.factories import SubjectFactory, decide

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


@pytest.fixture
def key(signed_key: SignedKey, redis_clean: Any, caplog: Any) -> SignedKey:
    """acme's key, with a rate no fuzz can exhaust; every log record captured."""
    caplog.set_level(logging.DEBUG)
    ApiKey.objects.filter(pk=signed_key.api_key.pk).update(
        rate_per_second=1_000_000, rate_burst=1_000_000
    )
    return signed_key


@pytest.fixture
def unbound(unbound_key: SignedKey, key: SignedKey) -> SignedKey:
    """A key bound to no organization: the body's organization reaches the database."""
    ApiKey.objects.filter(pk=unbound_key.api_key.pk).update(
        rate_per_second=1_000_000, rate_burst=1_000_000
    )
    return unbound_key


@pytest.fixture
def warning(acme: Any, reviewer: Any) -> EnforcementAction:
    """acme's u-42, warned automatically after a violation: an action one may appeal."""
    subject = SubjectFactory(
        organization=acme, user_id_hash=subject_hash(organization_slug="acme", user_id="u-42")
    )
    decide(subject, Verdict.VIOLATION, reviewer=reviewer)
    return subject.actions.get(kind=ActionKind.WARN)


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


# --- the property -------------------------------------------------------------------------------

# Text of every code point, NUL and unpaired surrogates included.
any_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()))
hostile_text = st.one_of(
    any_text,
    st.sampled_from(["\u0000", "\ud800", "a\udfffb", MARKER + "\u0000", "", " " * 10]),
)


class RawNumber:
    """A number token json.dumps cannot write: out of float range, or past int's digit limit."""

    def __init__(self, text: str) -> None:
        self.text = text


raw_numbers = st.sampled_from(
    ["1e400", "-1e400", "1e-400", "1E+999", "-0", "9" * 4300, "9" * 4301, "1" + "0" * 400]
).map(RawNumber)

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(10**400), max_value=10**400),
        st.floats(allow_nan=False, allow_infinity=False),
        hostile_text,
        raw_numbers,
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(hostile_text, children, max_size=4)
    ),
    max_leaves=12,
)


def write(value: Any) -> str:
    """JSON text for values holding RawNumber tokens (ASCII, so surrogates are escaped)."""
    if isinstance(value, RawNumber):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{write(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(write(v) for v in value) + "]"
    return json.dumps(value)


def set_at(body: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy of body with the value at path replaced (path of keys and indexes)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(body, list):
        copy = list(body)
        copy[head] = set_at(copy[head], rest, value)
        return copy
    copy = dict(body)
    copy[head] = set_at(copy.get(head), rest, value)
    return copy


FLAG_PATHS: list[tuple[Any, ...]] = [
    (),
    ("items",),
    ("items", 0),
    *[
        ("items", 0, name)
        for name in [
            "request_id",
            "organization",
            "user_id",
            "user_id_hash",
            "prompt",
            "response",
            "model",
            "flagged_at",
            "signals",
            "metadata",
            "unknown",
        ]
    ],
    ("items", 0, "signals", 0),
    ("items", 0, "signals", 0, "classifier"),
    ("items", 0, "signals", 0, "category"),
    ("items", 0, "signals", 0, "score"),
    ("items", 0, "metadata", "surface"),
]
APPEAL_PATHS: list[tuple[Any, ...]] = [
    (name,) for name in ["organization", "user_id", "user_id_hash", "action_id", "message", "other"]
]
LOOKUP_PATHS: list[tuple[Any, ...]] = [
    (name,) for name in ["organization", "user_id", "user_id_hash", "other"]
]


def deep_text(depth: int, opener: str) -> str:
    closer = "]" if opener == "[" else "}"
    inner = "[" if opener == "[" else '{"k":'
    return inner * depth + "0" + closer * depth


def bodies(valid: Callable[[], dict[str, Any]], paths: list[tuple[Any, ...]]) -> Any:
    """Bodies as bytes: a valid one with a hostile value somewhere, nested, or not UTF-8."""
    field_value = st.tuples(st.sampled_from(paths), json_values).map(
        lambda pv: write(set_at(valid(), pv[0], pv[1])).encode()
    )
    nesting = st.tuples(
        st.sampled_from(paths),
        st.integers(min_value=1, max_value=3000),
        st.sampled_from(["[", "{"]),
    ).map(lambda p: write(set_at(valid(), p[0], RawNumber(deep_text(p[1], p[2])))).encode())
    bad_text = st.sampled_from(["\u0000", "a\u0000b", MARKER + "\u0000", "\ud800", "x\udfff"])
    nul_bearing = st.tuples(st.sampled_from(paths), bad_text).map(
        lambda pv: write(set_at(valid(), pv[0], pv[1])).encode()
    )
    valid_bytes = st.just(0).map(lambda _: write(valid()).encode())
    not_utf8 = st.one_of(
        st.binary(max_size=64),
        st.tuples(valid_bytes, st.integers(min_value=0), st.binary(min_size=1, max_size=3)).map(
            lambda t: t[0][: t[1] % len(t[0])] + b"\xff" + t[2] + t[0][t[1] % len(t[0]) :]
        ),
    )
    huge = st.tuples(st.sampled_from(paths), st.integers(min_value=100_000, max_value=300_000)).map(
        lambda p: write(set_at(valid(), p[0], "x" * p[1])).encode()
    )
    # Text no column can hold is drawn twice as often: it is what a 5xx came from.
    return st.one_of(field_value, nesting, nul_bearing, nul_bearing, not_utf8, huge)


FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def assert_never_5xx(response: Any, before: tuple[int, ...]) -> None:
    assert response.status_code < 500, response.content
    if 400 <= response.status_code < 500:
        assert stored() == before, response.content
        assert response.json()["errors"]


@FUZZ
@given(data=st.data())
def test_the_flags_endpoint_never_answers_5xx(key, unbound, data, caplog):
    body = data.draw(bodies(lambda: {"items": [flag_item(organization="acme")]}, FLAG_PATHS))
    before = stored()
    response = post_flags(data.draw(st.sampled_from([key, unbound])), body)
    assert_never_5xx(response, before)
    if response.status_code >= 400:
        assert MARKER not in caplog.text


@FUZZ
@given(data=st.data())
def test_the_appeals_endpoint_never_answers_5xx(key, warning, data, caplog):
    body = data.draw(bodies(lambda: appeal_body(warning), APPEAL_PATHS))
    before = stored()
    response = post_appeal(key, body)
    assert_never_5xx(response, before)
    if response.status_code >= 400:
        assert MARKER not in caplog.text


@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_the_lookup_endpoint_never_answers_5xx(key, unbound, data, caplog):
    body = data.draw(bodies(lookup_body, LOOKUP_PATHS))
    before = stored()
    response = post_lookup(data.draw(st.sampled_from([key, unbound])), body)
    assert_never_5xx(response, before)


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
