"""GET /api/v1/batches/<batch_id> (CONTRACT §3): a batch's fate, for the key's organization only."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from moderation.models import ApiKey
from moderation.services.ingest import batch_process, batch_record_failure
from moderation.services.organizations import (
    api_key_create,
    api_key_retire_old_secrets,
    api_key_revoke,
    api_key_rotate,
)

pytestmark = pytest.mark.django_db


def status_url(batch_id: object) -> str:
    return f"/api/v1/batches/{batch_id}"


def post_batch(signed_key: Any, *items: dict[str, Any]) -> str:
    response = signed_key.post({"items": list(items)})
    assert response.status_code == 202, response.content
    return response.json()["batch_id"]


def get_status(signed_key: Any, batch_id: object, *, secret: str | None = None) -> Any:
    return signed_key.client.get(
        status_url(batch_id), headers={"Authorization": f"Bearer {secret or signed_key.secret}"}
    )


def test_it_answers_a_pending_batch(signed_key, item):
    batch_id = post_batch(signed_key, item(1), item(2), item(3))
    response = get_status(signed_key, batch_id)
    assert response.status_code == 200
    assert response.json() == {
        "batch_id": batch_id,
        "status": "pending",
        "received": 3,
        "created": 0,
        "duplicates": 0,
    }


def test_it_answers_a_processed_batch_with_created_and_duplicates(signed_key, item):
    batch_process(batch_id=post_batch(signed_key, item(1)))
    batch_id = post_batch(signed_key, item(1), item(2), item(3), item(3))
    batch_process(batch_id=batch_id)
    assert get_status(signed_key, batch_id).json() == {
        "batch_id": batch_id,
        "status": "processed",
        "received": 4,
        "created": 2,
        "duplicates": 2,
    }


def test_it_answers_a_failed_batch(signed_key, item, settings):
    settings.MODQUEUE_INGEST_MAX_ATTEMPTS = 1
    batch_id = post_batch(signed_key, item(1))
    batch_record_failure(batch_id=batch_id, error=RuntimeError("boom"))
    body = get_status(signed_key, batch_id).json()
    assert (body["status"], body["received"], body["created"]) == ("failed", 1, 0)
    assert "boom" not in str(body)


def test_it_accepts_an_uppercase_batch_id(signed_key, item):
    batch_id = post_batch(signed_key, item(1))
    response = get_status(signed_key, batch_id.upper())
    assert response.status_code == 200
    assert response.json()["batch_id"] == batch_id


def test_another_key_of_the_same_organization_may_read_it(signed_key, item):
    batch_id = post_batch(signed_key, item(1))
    _, colleague_secret = api_key_create(name="acme filter", organization_slug="acme")
    response = get_status(signed_key, batch_id, secret=colleague_secret)
    assert response.status_code == 200
    assert response.json()["batch_id"] == batch_id


def test_both_secrets_read_during_a_rotation(signed_key, item):
    batch_id = post_batch(signed_key, item(1))
    new = api_key_rotate(api_key=signed_key.api_key)
    assert get_status(signed_key, batch_id).status_code == 200
    assert get_status(signed_key, batch_id, secret=new).status_code == 200
    api_key_retire_old_secrets(api_key=signed_key.api_key)
    assert get_status(signed_key, batch_id).status_code == 401
    assert get_status(signed_key, batch_id, secret=new).status_code == 200


# --- 401 -------------------------------------------------------------------------------


def test_it_answers_401_without_a_bearer(signed_key, item):
    batch_id = post_batch(signed_key, item(1))
    response = signed_key.client.get(status_url(batch_id))
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "authorization",
    ["Bearer whsec_not-a-real-secret", "Bearer ", "Basic dXNlcjpwYXNz", "whsec_no_scheme"],
)
def test_it_answers_401_to_a_bad_bearer(signed_key, item, authorization):
    batch_id = post_batch(signed_key, item(1))
    response = signed_key.client.get(status_url(batch_id), headers={"Authorization": authorization})
    assert response.status_code == 401


def test_it_answers_401_to_a_revoked_key(signed_key, item):
    batch_id = post_batch(signed_key, item(1))
    api_key_revoke(api_key=signed_key.api_key)
    assert get_status(signed_key, batch_id).status_code == 401


def test_it_answers_401_to_the_key_id_used_as_a_bearer(signed_key, item):
    batch_id = post_batch(signed_key, item(1))
    response = get_status(signed_key, batch_id, secret=signed_key.api_key.key_id)
    assert response.status_code == 401


# --- 404 / 405 / 429 -------------------------------------------------------------------


def test_it_answers_404_to_the_other_organizations_key(signed_key, other_key, item):
    batch_id = post_batch(signed_key, item(1))
    response = get_status(other_key, batch_id)
    assert response.status_code == 404
    assert batch_id not in response.content.decode()


def test_an_unbound_key_reads_only_its_own_batches(signed_key, unbound_key, item):
    ours = post_batch(unbound_key, item(1, organization="acme"))
    theirs = post_batch(signed_key, item(2))
    assert get_status(unbound_key, ours).status_code == 200
    assert get_status(unbound_key, theirs).status_code == 404


@pytest.mark.parametrize("batch_id", ["not-a-uuid", "12345", "0123456789abcdef0123456789abcde"])
def test_it_answers_404_to_a_malformed_id(signed_key, batch_id):
    assert get_status(signed_key, batch_id).status_code == 404


def test_it_answers_404_to_an_unknown_id(signed_key):
    assert get_status(signed_key, uuid.uuid4()).status_code == 404


def test_it_answers_405_to_post(signed_key, item):
    batch_id = post_batch(signed_key, item(1))
    response = signed_key.client.post(
        status_url(batch_id), headers={"Authorization": f"Bearer {signed_key.secret}"}
    )
    assert response.status_code == 405


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_it_answers_405_to_other_methods_even_where_csrf_is_checked(signed_key, item, method):
    """A client sends no CSRF cookie: the CSRF check (which the test client skips unless
    asked) must not turn the documented 405 into Django's HTML 403 (found by Schemathesis)."""
    batch_id = post_batch(signed_key, item(1))
    client = Client(enforce_csrf_checks=True)
    response = getattr(client, method)(
        status_url(batch_id), headers={"Authorization": f"Bearer {signed_key.secret}"}
    )
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert response.content == b""


def test_it_answers_429_past_the_keys_rate(signed_key, item, redis_clean):
    batch_id = post_batch(signed_key, item(1))  # the first request of a bucket of 2
    ApiKey.objects.filter(pk=signed_key.api_key.pk).update(rate_per_second=1, rate_burst=2)
    answers = [get_status(signed_key, batch_id) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert int(answers[2].headers["Retry-After"]) >= 1
