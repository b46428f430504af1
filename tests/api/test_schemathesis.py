"""Schemathesis against docs/api/openapi.json: every operation, with data the document allows
and data it forbids, sent in-process to the Django app and signed as the API expects. The
property (CONTRACT §3 v2): never a 5xx, nothing stored on a 4xx, and every answer one the
document describes (status, content type, headers, body schema).

The Hypothesis fuzz of hostile bodies the document cannot describe (nested, huge, not UTF-8,
NUL-bearing) is tests/api/test_fuzz.py.
"""

from __future__ import annotations

import json
import time
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core import NotSet
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from moderation.models import (
    Appeal,
    AuditEvent,
    EnforcementAction,
    FlaggedItem,
    InboundBatch,
    Signal,
    Subject,
)
from tests.api.test_hostile_input import _signature, flag_item, post_flags
from tests.conftest import SignedKey

pytestmark = pytest.mark.django_db

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "api" / "openapi.json"
# A request the document forbids is refused with one of the answers the contract gives to
# bad requests: 413 for too many items or bytes among them (CONTRACT §3).
REFUSALS = ["400", "401", "403", "404", "405", "409", "413", "415", "422", "429"]
schema = schemathesis.openapi.from_path(
    DOCUMENT,
    config=SchemathesisConfig.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": REFUSALS}}}
    ),
)
APP = WSGIHandler()
CHECKS = [
    not_a_server_error,
    negative_data_rejection,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


class Signer:
    """What the before_call hook signs with: the key of the running test and the real ids
    that let a share of the generated requests past the look-ups to the validation."""

    key: SignedKey | None = None
    batch_id: str = ""
    action_id: str = ""


SIGNER = Signer()


def _real_sometimes(generated: Any, real: str) -> Any:
    """The real id in place of the generated one for about half the cases (chosen by the
    generated value, so a failing example replays the same)."""
    if real and isinstance(generated, str) and zlib.crc32(generated.encode()) % 2 == 0:
        return real
    return generated


@schemathesis.hook
def before_call(context: Any, case: Case, kwargs: dict[str, Any]) -> None:
    """Sign the request as an upstream would: the body's exact bytes under the key's secret
    (Standard Webhooks headers) on flags and appeals, `Bearer <secret>` on the reads. The
    path's key_id is the test key's, so the request reaches validation instead of a 401.
    Schemathesis has before_call as a global hook only: it does nothing outside `signed`."""
    key = SIGNER.key
    if key is None:
        return
    parameters = case.path_parameters
    if "batch_id" in parameters:
        parameters["batch_id"] = _real_sometimes(parameters["batch_id"], SIGNER.batch_id)
    if isinstance(case.body, dict) and "action_id" in case.body:
        case.body["action_id"] = _real_sometimes(case.body["action_id"], SIGNER.action_id)
        if case.body["action_id"] == SIGNER.action_id:
            # The appellant the action is on, so a share of appeals is accepted.
            case.body.pop("user_id_hash", None)
            case.body.update(organization="acme", user_id="u-42")
    body = b""
    if isinstance(case.body, bytes):
        body = kwargs["data"] = case.body
    elif not isinstance(case.body, NotSet):
        body = kwargs["data"] = json.dumps(case.body).encode()
    headers = case.headers
    if "key_id" in parameters:
        parameters["key_id"] = key.api_key.key_id
        msg_id, timestamp = f"msg_{uuid.uuid4().hex}", int(time.time())
        headers["webhook-id"] = msg_id
        headers["webhook-timestamp"] = str(timestamp)
        headers["webhook-signature"] = _signature(key.secret, msg_id, timestamp, body)
    else:
        headers.update(key.bearer())


@pytest.fixture
def signed(key: SignedKey, warning: EnforcementAction) -> Iterator[Signer]:
    """acme's key (no rate limit a fuzz can reach), one real batch and one appealable action."""
    response = post_flags(key, json.dumps({"items": [flag_item(organization="acme")]}).encode())
    assert response.status_code == 202, response.content
    SIGNER.key = key
    SIGNER.batch_id = response.json()["batch_id"]
    SIGNER.action_id = str(warning.pk)
    # Django's test client keeps the test's transaction across a request by unhooking
    # close_old_connections around it (and hooks it back after); the WSGI handler
    # Schemathesis calls needs the same for the whole test.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield SIGNER
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
        SIGNER.key = None


def stored() -> tuple[int, ...]:
    return (
        InboundBatch.objects.count(),
        FlaggedItem.objects.count(),
        Signal.objects.count(),
        Subject.objects.count(),
        Appeal.objects.count(),
        AuditEvent.objects.count(),
    )


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_every_operation_never_answers_5xx_nor_stores_on_a_4xx(case: Case, signed: Signer):
    before = stored()
    response = case.call(app=APP)
    case.validate_response(response, checks=CHECKS)
    assert response.status_code < 500, response.content
    if 400 <= response.status_code < 500:
        assert stored() == before, (response.status_code, response.content)
        # A 405 is empty (Django's answer, as documented); every other refusal says why.
        if response.status_code != 405:
            assert response.json()["errors"], response.content
