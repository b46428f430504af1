"""/enforcement/, its deliveries to the platforms: each with its attempts, for seniors and
admins; only admins redeliver by hand, and a failed redelivery says why."""

from __future__ import annotations

from typing import Any

import pytest

from moderation.models import (
    ActionKind,
    AuditAction,
    AuditEvent,
    Delivery,
    DeliveryStatus,
    EnforcementAction,
)
from moderation.services import deliveries, enforcement
from moderation.services.organizations import enforcement_endpoint_set
from tests.factories import SubjectFactory
from tests.processes import free_port
from tests.webhooks import Receiver, receiving

pytestmark = pytest.mark.django_db

PLATFORM_URL = "https://platform.example/enforcement"


@pytest.fixture
def warned(acme: Any, senior: Any) -> EnforcementAction:
    subject = SubjectFactory(organization=acme)
    return enforcement.action_by_hand(
        subject=subject, kind=ActionKind.WARN, user=senior, reason="first strike"
    )


def redeliver_url(delivery: Delivery) -> str:
    return f"/enforcement/deliveries/{delivery.pk}/redeliver/"


def test_it_shows_each_delivery_with_its_attempts(client, senior, acme):
    enforcement_endpoint_set(
        organization=acme, url=f"http://127.0.0.1:{free_port()}/refused", allow_private=True
    )
    subject = SubjectFactory(organization=acme)
    action = enforcement.action_by_hand(
        subject=subject, kind=ActionKind.WARN, user=senior, reason="first strike"
    )
    delivery = Delivery.objects.get(action=action)
    attempt = deliveries.delivery_attempt(delivery_id=delivery.pk)
    assert attempt is not None and attempt.status_code is None

    client.force_login(senior)
    response = client.get("/enforcement/")
    page = response.content.decode()
    assert "Deliveries to the platforms" in page
    assert '<span class="tag action-warn">Warn</span>' in page
    assert "acme" in page and "Pending" in page
    assert "1 attempt<" in page
    assert "no answer" in page and "Connection refused" in page
    assert f"{attempt.latency_ms} ms" in page
    # Seniors see the attempts but do not redeliver.
    assert ">Redeliver</button>" not in page


def test_only_admins_redeliver(client, reviewer, senior, acme, warned):
    enforcement_endpoint_set(organization=acme, url=PLATFORM_URL)
    action = enforcement.action_by_hand(
        subject=warned.subject, kind=ActionKind.RESTRICT, user=senior, reason="second strike"
    )
    delivery = Delivery.objects.get(action=action)
    for who in (reviewer, senior):
        client.force_login(who)
        assert client.post(redeliver_url(delivery)).status_code == 403
    assert not delivery.attempt_log.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.DELIVERY_REDELIVER).exists()


def test_an_admin_redelivers_by_hand(client, admin_user, senior, acme):
    with receiving(Receiver(fail_first=1, fail_status=500)) as receiver:
        receiver.secret = enforcement_endpoint_set(
            organization=acme, url=receiver.url, allow_private=True
        )
        action = enforcement.action_by_hand(
            subject=SubjectFactory(organization=acme),
            kind=ActionKind.RESTRICT,
            user=senior,
            reason="second strike",
        )
        delivery = Delivery.objects.get(action=action)
        deliveries.delivery_attempt(delivery_id=delivery.pk)  # the scheduled one: HTTP 500

        client.force_login(admin_user)
        page = client.get("/enforcement/").content.decode()
        assert ">Redeliver</button>" in page and "HTTP 500" in page
        response = client.post(redeliver_url(delivery), follow=True)
        got = receiver.all()

    assert response.redirect_chain == [("/enforcement/", 302)]
    page = response.content.decode()
    assert "Delivered: HTTP 204 in" in page and "by hand" in page
    assert [(r.answered, r.verified) for r in got] == [(500, True), (204, True)]
    assert {r.webhook_id for r in got} == {delivery.webhook_id}
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 2
    assert [(a.status_code, a.manual) for a in delivery.attempt_log.all()] == [
        (500, False),
        (204, True),
    ]
    assert AuditEvent.objects.filter(
        action=AuditAction.DELIVERY_REDELIVER,
        actor=admin_user,
        detail={"delivery": delivery.webhook_id},
    ).exists()


def test_a_failed_redelivery_says_why(client, admin_user, acme, warned):
    enforcement_endpoint_set(
        organization=acme, url=f"http://127.0.0.1:{free_port()}/refused", allow_private=True
    )
    action = enforcement.action_by_hand(
        subject=warned.subject, kind=ActionKind.RESTRICT, user=admin_user, reason="second strike"
    )
    delivery = Delivery.objects.get(action=action)
    client.force_login(admin_user)
    response = client.post(redeliver_url(delivery), follow=True)
    assert "Not delivered: URLError:" in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert delivery.attempt_log.get().manual is True
