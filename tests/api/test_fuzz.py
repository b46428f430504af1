"""Hostile bodies on every JSON endpoint (CONTRACT §3 v2), fuzzed: Hypothesis strategies that
post nested, huge, non-UTF-8 and NUL-bearing bodies and random JSON values in every field,
signed, to the flags, appeals and subject lookup endpoints. The explicit cases for each
malformed input found are in tests/api/test_hostile_input.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation.models import ApiKey
from tests.api.test_hostile_input import (
    MARKER,
    appeal_body,
    flag_item,
    lookup_body,
    post_appeal,
    post_flags,
    post_lookup,
    stored,
)
from tests.conftest import SignedKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def unbound(unbound_key: SignedKey, key: SignedKey) -> SignedKey:
    """A key bound to no organization: the body's organization reaches the database."""
    ApiKey.objects.filter(pk=unbound_key.api_key.pk).update(
        rate_per_second=1_000_000, rate_burst=1_000_000
    )
    return unbound_key


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
