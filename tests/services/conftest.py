"""Shared by the service tests: an end user of acme, acme's enforcement endpoint (a name, or a
real receiver on 127.0.0.1), a warning waiting to be delivered, and the contract's retry
delays."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from moderation.models import Delivery, Subject, Verdict
from moderation.services.organizations import enforcement_endpoint_set
from tests.factories import SubjectFactory, decide
from tests.webhooks import Receiver

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


@pytest.fixture
def platform(acme: Any) -> Iterator[Callable[..., Receiver]]:
    """Start acme's enforcement endpoint: a receiver that verifies every request with
    `standardwebhooks` and records it; options as tests.webhooks.Receiver takes them."""
    started: list[Receiver] = []

    def start(**options: Any) -> Receiver:
        receiver = Receiver(**options)
        receiver.secret = enforcement_endpoint_set(
            organization=acme, url=receiver.url, allow_private=True
        )
        receiver.start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()
