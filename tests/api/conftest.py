"""Shared by the hostile-input and fuzz tests of the API: a key no fuzz can rate-limit, and an
action one may appeal."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from moderation.models import ActionKind, ApiKey, EnforcementAction, Verdict
from moderation.services.subjects import subject_hash
from tests.conftest import SignedKey
from tests.factories import SubjectFactory, decide


@pytest.fixture
def key(signed_key: SignedKey, redis_clean: Any, caplog: Any) -> SignedKey:
    """acme's key, with a rate no fuzz can exhaust; every log record captured."""
    caplog.set_level(logging.DEBUG)
    ApiKey.objects.filter(pk=signed_key.api_key.pk).update(
        rate_per_second=1_000_000, rate_burst=1_000_000
    )
    return signed_key


@pytest.fixture
def warning(acme: Any, reviewer: Any) -> EnforcementAction:
    """acme's u-42, warned automatically after a violation: an action one may appeal."""
    subject = SubjectFactory(
        organization=acme, user_id_hash=subject_hash(organization_slug="acme", user_id="u-42")
    )
    decide(subject, Verdict.VIOLATION, reviewer=reviewer)
    return subject.actions.get(kind=ActionKind.WARN)
