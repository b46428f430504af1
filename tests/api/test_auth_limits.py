"""CONTRACT §3 v2: failed authentications are limited per client address. After 30 failures
(any 401) from one address within a minute, every signed or Bearer endpoint answers that
address 429 with `Retry-After` (at most 60), before any key look-up or signature work, and
stores nothing."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

import django_rq
import pytest
import redis

from moderation.api import auth, ratelimit, views
from moderation.models import ApiKey, Appeal, AuditEvent, InboundBatch, Verdict
from moderation.services.subjects import subject_hash
from tests.conftest import SignedKey
from tests.factories import SubjectFactory, decide

pytestmark = pytest.mark.django_db

ADDRESS = "203.0.113.7"
OTHER_ADDRESS = "198.51.100.9"
LIMIT = 30


def signed_post(
    key: SignedKey,
    url: str,
    payload: Any,
    *,
    address: str = ADDRESS,
    forwarded_for: str | None = None,
    **header_options: Any,
) -> Any:
    body = json.dumps(payload)
    headers = key.headers(body, **header_options)
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    return key.client.post(
        url, data=body, content_type="application/json", headers=headers, REMOTE_ADDR=address
    )


def flags_url(key: SignedKey) -> str:
    return f"/api/v1/flags/{key.api_key.key_id}"


def appeals_url(key: SignedKey) -> str:
    return f"/api/v1/appeals/{key.api_key.key_id}"


def bad_signature(key: SignedKey, other: SignedKey, item: Any, n: int = 0, **kw: Any) -> Any:
    return signed_post(key, flags_url(key), item(n), secret=other.secret, **kw)


def lookup(key: SignedKey, *, token: str, address: str = ADDRESS) -> Any:
    return key.client.post(
        "/api/v1/subjects/lookup",
        data=json.dumps({"user_id": "u-1"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
        REMOTE_ADDR=address,
    )


def batch(key: SignedKey, *, token: str, address: str = ADDRESS) -> Any:
    return key.client.get(
        "/api/v1/batches/0b8f3c1e-6d2a-4b7e-9a51-3f2c8d4e7a10",
        headers={"Authorization": f"Bearer {token}"},
        REMOTE_ADDR=address,
    )


def assert_refused(response: Any) -> None:
    assert response.status_code == 429, response.content
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.json()["errors"][0]["message"]


def assert_nothing_stored(key: SignedKey) -> None:
    assert not InboundBatch.objects.exists()
    assert not Appeal.objects.exists()
    assert not AuditEvent.objects.exists()
    key.api_key.refresh_from_db()
    assert key.api_key.last_used_at is None


@pytest.fixture(params=["redis", "memory"])
def store(request: pytest.FixtureRequest, settings: Any) -> str:
    """Each test runs against the shared Redis count and the Redis-less demo's memory."""
    if request.param == "redis":
        request.getfixturevalue("redis_clean")
    settings.MODQUEUE_INLINE_JOBS = request.param == "memory"
    return str(request.param)


@pytest.fixture
def blocked(signed_key: SignedKey, other_key: SignedKey, item: Any, store: str) -> SignedKey:
    """ADDRESS after 30 bad signatures on the ingest endpoint, each answered 401."""
    answers = [bad_signature(signed_key, other_key, item, n).status_code for n in range(LIMIT)]
    assert answers == [401] * LIMIT
    return signed_key


def test_it_answers_429_past_30_bad_signatures(blocked, other_key, item):
    for n in range(5):
        assert_refused(bad_signature(blocked, other_key, item, n))
    # The address is refused, whatever it sends: a good signature too.
    assert_refused(signed_post(blocked, flags_url(blocked), item(99)))
    assert_nothing_stored(blocked)


def test_a_blocked_address_gets_no_key_look_up_and_no_signature_work(blocked, item, monkeypatch):
    calls: list[str] = []

    def spy(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(views, "signature_verify", spy("verify", views.signature_verify))
    for name in ("api_key_active", "api_key_secrets", "api_key_for_bearer", "api_key_touch"):
        monkeypatch.setattr(auth, name, spy(name, getattr(auth, name)))
    assert_refused(signed_post(blocked, flags_url(blocked), item(1)))
    assert_refused(signed_post(blocked, appeals_url(blocked), {"message": "x"}))
    assert_refused(lookup(blocked, token=blocked.secret))
    assert_refused(batch(blocked, token=blocked.secret))
    assert calls == []
    # The spies do see the work for an address that is not blocked.
    accepted = signed_post(blocked, flags_url(blocked), item(2), address=OTHER_ADDRESS)
    assert accepted.status_code == 202
    assert "verify" in calls and "api_key_active" in calls


def test_a_blocked_address_is_refused_on_every_signed_and_bearer_endpoint(blocked):
    assert_refused(signed_post(blocked, appeals_url(blocked), {"message": "x"}))
    assert_refused(lookup(blocked, token=blocked.secret))
    assert_refused(batch(blocked, token=blocked.secret))
    assert_nothing_stored(blocked)


def test_unknown_key_ids_count_as_failures(signed_key, item, store):
    for n in range(LIMIT):
        url = f"/api/v1/flags/key_unknown{n}" if n % 2 else f"/api/v1/appeals/key_unknown{n}"
        assert signed_post(signed_key, url, item(n)).status_code == 401
    assert_refused(signed_post(signed_key, flags_url(signed_key), item(1)))
    assert_refused(signed_post(signed_key, appeals_url(signed_key), {"message": "x"}))
    assert_nothing_stored(signed_key)


def test_a_revoked_key_missing_headers_and_a_stale_timestamp_count_as_failures(
    signed_key, other_key, item, store
):
    ApiKey.objects.filter(pk=other_key.api_key.pk).update(revoked_at="2026-01-01T00:00Z")
    for n in range(10):
        assert signed_post(other_key, flags_url(other_key), item(n)).status_code == 401
    for _ in range(10):
        response = signed_key.client.post(
            appeals_url(signed_key),
            data="{}",
            content_type="application/json",
            REMOTE_ADDR=ADDRESS,
        )
        assert response.status_code == 401
    stale = 1_700_000_000
    for n in range(10):
        answer = signed_post(signed_key, flags_url(signed_key), item(n), timestamp=stale)
        assert answer.status_code == 401
    assert_refused(signed_post(signed_key, flags_url(signed_key), item(1)))
    assert_nothing_stored(signed_key)


def test_wrong_bearer_tokens_on_lookup_and_batch_count_as_failures(signed_key, store):
    for n in range(LIMIT // 2):
        assert lookup(signed_key, token=f"whsec_wrong{n}").status_code == 401
        assert batch(signed_key, token=f"whsec_wrong{n}").status_code == 401
    assert_refused(lookup(signed_key, token=signed_key.secret))
    assert_refused(batch(signed_key, token=signed_key.secret))
    no_header = signed_key.client.get(
        "/api/v1/batches/0b8f3c1e-6d2a-4b7e-9a51-3f2c8d4e7a10", REMOTE_ADDR=ADDRESS
    )
    assert_refused(no_header)
    assert_nothing_stored(signed_key)


def test_another_address_is_not_affected(blocked, other_key, item):
    accepted = signed_post(blocked, flags_url(blocked), item(1), address=OTHER_ADDRESS)
    assert accepted.status_code == 202
    assert bad_signature(blocked, other_key, item, 2, address=OTHER_ADDRESS).status_code == 401
    assert lookup(blocked, token=blocked.secret, address=OTHER_ADDRESS).status_code == 404


def test_x_forwarded_for_is_not_trusted(blocked, item):
    """The address is REMOTE_ADDR: a header the client writes does not move it elsewhere."""
    response = signed_post(blocked, flags_url(blocked), item(1), forwarded_for=OTHER_ADDRESS)
    assert_refused(response)


def test_successes_do_not_count(signed_key, other_key, item, store):
    for n in range(LIMIT - 1):
        assert bad_signature(signed_key, other_key, item, n).status_code == 401
    for n in range(40):
        assert signed_post(signed_key, flags_url(signed_key), item(n)).status_code == 202
    assert lookup(signed_key, token=signed_key.secret).status_code == 404
    # The 30th failure is still answered 401; only then is the address refused.
    assert bad_signature(signed_key, other_key, item, 99).status_code == 401
    assert_refused(signed_post(signed_key, flags_url(signed_key), item(100)))
    assert InboundBatch.objects.count() == 40


def test_it_accepts_again_once_the_failures_are_a_minute_old(
    signed_key, other_key, item, store, monkeypatch
):
    clock = [1_900_000_000.0]
    monkeypatch.setattr(ratelimit, "_now", lambda: clock[0])
    for n in range(LIMIT):
        clock[0] += 1  # 30 failures over 30 seconds
        assert bad_signature(signed_key, other_key, item, n).status_code == 401
    refused = signed_post(signed_key, flags_url(signed_key), item(1))
    assert_refused(refused)
    # The first failure leaves the window 60 s after it happened: 31 s from now.
    assert int(refused.headers["Retry-After"]) == 31
    clock[0] += 30
    assert_refused(signed_post(signed_key, flags_url(signed_key), item(1)))
    clock[0] += 1.5
    assert signed_post(signed_key, flags_url(signed_key), item(1)).status_code == 202
    # One failure now brings the address back to 30 inside the window: refused again.
    assert bad_signature(signed_key, other_key, item, 2).status_code == 401
    assert_refused(signed_post(signed_key, flags_url(signed_key), item(3)))
    clock[0] += 61
    assert signed_post(signed_key, flags_url(signed_key), item(4)).status_code == 202
    assert InboundBatch.objects.count() == 2


def test_the_limit_is_a_setting(signed_key, other_key, item, store, settings):
    settings.MODQUEUE_AUTH_FAILURE_LIMIT = 3
    assert [bad_signature(signed_key, other_key, item, n).status_code for n in range(3)] == [
        401,
        401,
        401,
    ]
    assert_refused(signed_post(signed_key, flags_url(signed_key), item(1)))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_it_lets_requests_through_while_redis_is_unreachable(
    signed_key, other_key, item, settings, monkeypatch
):
    settings.MODQUEUE_INLINE_JOBS = False
    # Built as the app builds its own (one retry, no backoff), on a port nobody listens on.
    client_kwargs = settings.RQ_QUEUES["ingest"]["REDIS_CLIENT_KWARGS"]
    dead = redis.Redis(port=_closed_port(), **{**client_kwargs, "socket_connect_timeout": 0.2})
    monkeypatch.setattr(ratelimit, "_redis", lambda: dead)
    monkeypatch.setattr(ratelimit, "_script", None)
    for n in range(LIMIT + 5):
        assert bad_signature(signed_key, other_key, item, n).status_code == 401
    assert signed_post(signed_key, flags_url(signed_key), item(1)).status_code == 202


def test_the_apps_redis_client_gives_up_at_once_rather_than_retrying_for_seconds():
    # redis-py 8 retries a failed command 10 times with backoff by default (about 4 s a
    # command), which would stall every API request while Redis is down.
    retry = django_rq.get_connection("ingest").get_retry()
    assert retry is not None and retry.get_retries() <= 1


def test_the_429s_and_an_appeals_replay_fit_the_openapi_document(blocked, acme, reviewer):
    from tests.api.test_openapi import DOCUMENT_PATH, assert_answer_matches

    document = json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))
    for path, method, answer in [
        ("/api/v1/flags/{key_id}", "post", signed_post(blocked, flags_url(blocked), {})),
        ("/api/v1/appeals/{key_id}", "post", signed_post(blocked, appeals_url(blocked), {})),
        ("/api/v1/subjects/lookup", "post", lookup(blocked, token=blocked.secret)),
        ("/api/v1/batches/{batch_id}", "get", batch(blocked, token=blocked.secret)),
    ]:
        assert answer.status_code == 429
        assert_answer_matches(document, path, method, answer)
    # An appeal's replay (CONTRACT §4b v2), from an address that is not blocked.
    subject = SubjectFactory(
        organization=acme, user_id_hash=subject_hash(organization_slug="acme", user_id="u-42")
    )
    decide(subject, Verdict.VIOLATION, reviewer=reviewer)
    action = subject.actions.get()
    body = {"user_id": "u-42", "action_id": str(action.pk), "message": "It was a quote."}
    url = appeals_url(blocked)
    first = signed_post(blocked, url, body, address=OTHER_ADDRESS, msg_id="msg_once")
    replay = signed_post(blocked, url, body, address=OTHER_ADDRESS, msg_id="msg_once")
    assert (first.status_code, replay.status_code) == (202, 200)
    assert_answer_matches(document, "/api/v1/appeals/{key_id}", "post", replay)
