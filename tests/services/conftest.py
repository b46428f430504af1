"""Shared by the service tests: an end user of acme, acme's enforcement endpoint, a warning
waiting to be delivered, and the contract's retry delays."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from moderation.models import Delivery, Subject, Verdict
from moderation.services.organizations import enforcement_endpoint_set
from tests.factories import SubjectFactory, decide

ENDPOINT = "https://platform.example/hooks/enforcement"


@pytest.fixture
def user(acme: Any) -> Subject:
    return SubjectFactory(organization=acme)


@pytest.fixture
def endpoint(acme: Any) -> str:
    enforcement_endpoint_set(organization=acme, url=ENDPOINT)
    return ENDPOINT


@pytest.fixture
def contract_retry_delays(settings: Any) -> None:
    """Retries at the contract's own delays (the suite shortens them elsewhere)."""
    settings.MODQUEUE_RETRY_DELAY_SCALE = 1


@pytest.fixture
def warned(acme: Any, reviewer: Any) -> Callable[[], Delivery]:
    """A user's first violation, whose warning waits to be delivered."""

    def make() -> Delivery:
        subject = SubjectFactory(organization=acme)
        decide(subject, Verdict.VIOLATION, reviewer=reviewer)
        return Delivery.objects.get(action__subject=subject)

    return make
