"""The enforcement webhook's endpoint address, checked again at delivery time (issue 9 finding
6): a name that now resolves to a private address, stopped resolving or rebinds between the
check and the connection is never posted to; HTTPS goes through the checked addresses too."""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

import pytest

from moderation.models import DeliveryAttempt, DeliveryStatus
from moderation.services import deliveries
from moderation.services.deliveries import MAX_ATTEMPTS, RETRY_DELAYS, delivery_attempt
from moderation.services.organizations import enforcement_endpoint_set
from tests.factories import make_due
from tests.webhooks import Receiver, receiving

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("contract_retry_delays")]


# --- v2: the address is checked again at delivery time (issue 9 finding 6) ---------------


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What `rebind.test` resolves to, at the resolver itself (every lookup, urllib's too);
    the test changes it, as a DNS change (or a rebinding attack) would."""
    answer = {"rebind.test": "93.184.215.14"}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real(answer.get(host, host), *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answer


def test_a_name_that_now_resolves_to_a_private_address_is_not_posted_to(acme, warned, dns):
    with receiving(Receiver()) as receiver:
        url = f"http://rebind.test:{receiver.port}/enforcement"
        receiver.secret = enforcement_endpoint_set(organization=acme, url=url)
        delivery = warned()
        dns["rebind.test"] = "127.0.0.1"  # the name moved inside the network
        attempt = delivery_attempt(delivery_id=delivery.pk)
        assert attempt is not None and not attempt.ok and attempt.status_code is None
        assert attempt.error.startswith("refused: rebind.test resolves to a private")
        assert "127.0.0.1" in attempt.error and attempt.latency_ms == 0
        assert receiver.arrivals == 0  # never a connection
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.PENDING
        assert delivery.next_attempt_at == attempt.at + timedelta(seconds=RETRY_DELAYS[0])

        # The same name, once an admin allows the organization a private endpoint, is
        # posted to: the resolver above really leads to the receiver.
        receiver.secret = enforcement_endpoint_set(organization=acme, url=url, allow_private=True)
        make_due(delivery)
        retry = delivery_attempt(delivery_id=delivery.pk)
        assert retry is not None and retry.ok
        assert [got.verified for got in receiver.all()] == [True]


def test_a_refused_address_is_retried_on_the_schedule_and_gives_up_like_any_failure(
    acme, warned, dns
):
    enforcement_endpoint_set(organization=acme, url="http://rebind.test:9/enforcement")
    delivery = warned()
    dns["rebind.test"] = "169.254.169.254"
    for _ in range(MAX_ATTEMPTS):
        make_due(delivery)
        attempt = delivery_attempt(delivery_id=delivery.pk)
        assert attempt is not None and "169.254.169.254" in attempt.error
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    errors = set(DeliveryAttempt.objects.filter(delivery=delivery).values_list("error", flat=True))
    assert len(errors) == 1 and next(iter(errors)).startswith("refused: ")


def test_a_name_that_stopped_resolving_is_not_posted_to(acme, warned, dns):
    enforcement_endpoint_set(organization=acme, url="http://rebind.test:9/enforcement")
    delivery = warned()
    dns["rebind.test"] = "nowhere.invalid"
    attempt = delivery_attempt(delivery_id=delivery.pk)
    assert attempt is not None and attempt.error == "refused: rebind.test does not resolve"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING


def test_a_name_that_rebinds_between_the_check_and_the_connection_gets_nowhere(
    acme, warned, monkeypatch
):
    """DNS rebinding: a public answer to the check, 127.0.0.1 to every lookup after it. The
    connection goes only to an address checked at connect time, never to the later one."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.test":
            return real(host, *args, **kwargs)
        lookups.append(host)
        checked = len(lookups) <= 2  # setting the endpoint, the attempt's check
        return real("93.184.215.14" if checked else "127.0.0.1", *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with receiving(Receiver()) as receiver:
        url = f"http://rebind.test:{receiver.port}/enforcement"
        receiver.secret = enforcement_endpoint_set(organization=acme, url=url)
        delivery = warned()
        attempt = delivery_attempt(delivery_id=delivery.pk)
        assert attempt is not None and attempt.status_code is None
        assert attempt.error.startswith("refused: rebind.test resolves to a private")
        assert len(lookups) == 3  # the connection's own lookup, checked again
        assert receiver.arrivals == 0


def test_an_https_endpoint_connects_through_the_checked_addresses_too(acme, warned, monkeypatch):
    connected: list[tuple[str, int]] = []

    def connect_public(address: tuple[str, int], *args: Any) -> Any:
        connected.append(address)
        raise ConnectionRefusedError("no one there")

    monkeypatch.setattr(deliveries, "connect_public", connect_public)
    enforcement_endpoint_set(organization=acme, url="https://platform.example/hook")
    attempt = delivery_attempt(delivery_id=warned().pk)
    assert attempt is not None and "no one there" in attempt.error
    assert connected == [("platform.example", 443)]


def test_the_tests_made_up_example_platform_is_never_connected_to(acme, warned):
    """`.example` names pass the address rule in the tests (tests/conftest.py) but, as in
    the world, lead nowhere: a delivery there fails to resolve, nothing is sent."""
    enforcement_endpoint_set(organization=acme, url="https://platform.example/hook")
    attempt = delivery_attempt(delivery_id=warned().pk)
    assert attempt is not None and attempt.status_code is None
    assert "Name or service not known" in attempt.error
