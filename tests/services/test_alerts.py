"""Alerts to a Slack-compatible incoming webhook (issue 11, services/alerts.py): SLA breaches
and failed deliveries, posted as {"text": ...} to a real HTTP receiver on 127.0.0.1, recorded
once, retried while the receiver is down, never sent when MODQUEUE_ALERT_URL is unset."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.utils import timezone

from moderation import jobs
from moderation.models import (
    AlertKind,
    AlertSent,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    ItemState,
    ReviewQueue,
)
from moderation.services import alerts
from tests.factories import FlaggedItemFactory
from tests.processes import free_port

# acme has an enforcement endpoint, so its warnings make deliveries (tests/services/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("endpoint")]


class Webhook:
    """A Slack-style incoming webhook: records each JSON body, answers `status`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.status = 200
        self.bodies: list[dict[str, Any]] = []
        self.content_types: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/services/T000/B000/XXXX"

    def start(self) -> None:
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                webhook.bodies.append(json.loads(raw))
                webhook.content_types.append(self.headers.get("Content-Type", ""))
                self.send_response(webhook.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def texts(self) -> list[str]:
        return [body["text"] for body in self.bodies]


@pytest.fixture
def webhook(settings: Any) -> Iterator[Webhook]:
    hook = Webhook()
    settings.MODQUEUE_ALERT_URL = hook.url
    settings.MODQUEUE_BASE_URL = "https://review.example.com"
    hook.start()
    yield hook
    hook.stop()


def waiting(queue: str, *, for_: timedelta, n: int = 1) -> list[Any]:
    at = timezone.now() - for_
    return [
        FlaggedItemFactory(queue=queue, received_at=at, queued_at=at, prompt="secret prompt text")
        for _ in range(n)
    ]


def failed_delivery(warned: Callable[[], Delivery], *, status_code: int | None = 503) -> Delivery:
    delivery = warned()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.FAILED, attempts=9, next_attempt_at=None
    )
    DeliveryAttempt.objects.create(
        delivery=delivery, number=9, at=timezone.now(), status_code=status_code, error="x"
    )
    delivery.refresh_from_db()
    return delivery


def later(hours: float) -> datetime:
    return timezone.now() + timedelta(hours=hours)


def test_it_alerts_an_sla_breach_with_the_count_and_oldest_age(webhook):
    # Critical's default target is 1 h: two items past it, one within it.
    late = waiting(ReviewQueue.CRITICAL, for_=timedelta(hours=3, minutes=10))
    waiting(ReviewQueue.CRITICAL, for_=timedelta(hours=2))
    waiting(ReviewQueue.CRITICAL, for_=timedelta(minutes=10))
    assert alerts.alerts_send() == 1
    [text] = webhook.texts
    # Counts, ages and a link: no content, no ids.
    assert re.fullmatch(
        r"modqueue: SLA breach in the Critical queue: 2 items are waiting past the 1 h target, "
        r"the oldest for 3 h 10 min\. https://review\.example\.com/(reports/operations|queue)/",
        text,
    ), text
    assert webhook.content_types == ["application/json"]
    assert "secret prompt text" not in text and late[0].subject.user_id_hash not in text
    [alert] = AlertSent.objects.all()
    assert (alert.kind, alert.attempts, alert.text) == (AlertKind.SLA_BREACH, 1, text)
    assert alert.delivered_at is not None


def test_a_queue_within_its_target_alerts_nothing(webhook):
    waiting(ReviewQueue.STANDARD, for_=timedelta(hours=23))
    waiting(ReviewQueue.CRITICAL, for_=timedelta(minutes=59))
    assert alerts.alerts_send() == 0
    assert webhook.bodies == [] and not AlertSent.objects.exists()


def test_an_ongoing_breach_alerts_once_then_reminds_after_hours(webhook):
    waiting(ReviewQueue.CRITICAL, for_=timedelta(hours=2), n=3)
    alerts.alerts_send()
    for hours in (0, 0.1, 2, 5.9):  # every run in between: the same breach, no new alert
        alerts.alerts_send(now=later(hours))
    assert len(webhook.bodies) == 1
    alerts.alerts_send(now=later(6.1))
    assert len(webhook.bodies) == 2
    assert "3 items are still waiting" in webhook.texts[1]
    alerts.alerts_send(now=later(6.2))
    assert len(webhook.bodies) == 2


def test_a_breach_cleared_and_come_back_alerts_afresh_but_not_within_the_gap(webhook):
    first = waiting(ReviewQueue.CRITICAL, for_=timedelta(hours=2))
    alerts.alerts_send()
    FlaggedItemFactory._meta.model.objects.filter(pk__in=[i.pk for i in first]).update(
        state=ItemState.DECIDED
    )
    # Within its target at the first alert, past it half an hour later.
    waiting(ReviewQueue.CRITICAL, for_=timedelta(minutes=40))
    alerts.alerts_send(now=later(0.5))  # a new breach, but within the hour of the last alert
    assert len(webhook.bodies) == 1
    alerts.alerts_send(now=later(1.1))
    assert len(webhook.bodies) == 2
    assert "1 item is waiting past the 1 h target" in webhook.texts[1]


def test_each_queue_alerts_on_its_own(webhook):
    waiting(ReviewQueue.CRITICAL, for_=timedelta(hours=2))
    waiting(ReviewQueue.STANDARD, for_=timedelta(hours=25))
    alerts.alerts_send()
    assert sorted(t.split(":")[1].strip() for t in webhook.texts) == [
        "SLA breach in the Critical queue",
        "SLA breach in the Standard queue",
    ]


def test_a_failed_delivery_alerts_once_naming_organization_action_attempts_and_answer(
    webhook, warned
):
    delivery = failed_delivery(warned)
    assert alerts.alerts_send() == 1
    [text] = webhook.texts
    assert "enforcement delivery to acme failed" in text
    assert "the warn action was not accepted after 9 attempts, the last answer HTTP 503" in text
    assert text.endswith("https://review.example.com/enforcement/")
    assert delivery.webhook_id not in text and delivery.action.subject.user_id_hash not in text
    assert AlertSent.objects.get().key == str(delivery.pk)
    for hours in (0, 1, 24):
        alerts.alerts_send(now=later(hours))
    assert len(webhook.bodies) == 1


def test_a_delivery_with_no_answer_says_so(webhook, warned):
    failed_delivery(warned, status_code=None)
    alerts.alerts_send()
    assert "the last answer no HTTP answer" in webhook.texts[0]


def test_pending_and_delivered_deliveries_alert_nothing(webhook, warned):
    warned()
    delivered = warned()
    Delivery.objects.filter(pk=delivered.pk).update(status=DeliveryStatus.DELIVERED)
    assert alerts.alerts_send() == 0
    assert webhook.bodies == []


def test_the_receiver_down_is_retried_later_without_duplicates(webhook, warned):
    webhook.status = 500
    failed_delivery(warned)
    assert alerts.alerts_send() == 0
    assert len(webhook.bodies) == 1
    alert = AlertSent.objects.get()
    assert alert.delivered_at is None and alert.attempts == 1
    # Not due again for 30 s: runs in between post nothing.
    alerts.alerts_send(now=timezone.now() + timedelta(seconds=10))
    assert len(webhook.bodies) == 1
    webhook.status = 200
    assert alerts.alerts_send(now=timezone.now() + timedelta(seconds=31)) == 1
    alert.refresh_from_db()
    assert alert.delivered_at is not None and alert.attempts == 2
    assert webhook.texts[0] == webhook.texts[1]
    alerts.alerts_send(now=later(1))
    assert len(webhook.bodies) == 2
    assert AlertSent.objects.count() == 1


def test_a_receiver_not_listening_is_retried_until_the_cap(settings, warned):
    settings.MODQUEUE_ALERT_URL = f"http://127.0.0.1:{free_port()}/hook"
    failed_delivery(warned)
    for hours in range(0, 48):
        alerts.alerts_send(now=later(hours))
    alert = AlertSent.objects.get()
    assert alert.delivered_at is None and alert.attempts == alerts.MAX_ATTEMPTS


def test_the_periodic_run_sends_alerts_and_survives_a_broken_url(settings, webhook, warned):
    failed_delivery(warned)
    jobs.periodic()
    assert len(webhook.bodies) == 1
    settings.MODQUEUE_ALERT_URL = "not a url at all"
    failed_delivery(warned)
    jobs.periodic()  # no exception
    assert AlertSent.objects.filter(delivered_at=None).count() == 1


def test_nothing_is_sent_or_recorded_when_the_url_is_unset(settings, warned):
    settings.MODQUEUE_ALERT_URL = ""
    failed_delivery(warned)
    waiting(ReviewQueue.CRITICAL, for_=timedelta(hours=5))
    assert alerts.alerts_send() == 0
    jobs.periodic()
    assert not AlertSent.objects.exists()


def test_two_runners_deciding_at_once_record_one_alert(webhook):
    waiting(ReviewQueue.CRITICAL, for_=timedelta(hours=2))
    now = timezone.now()
    [breach] = alerts.breaches(now=now)
    # Both runners saw no alert yet, so both call for one: the same key, recorded once.
    first, second = (alerts._breach_alert(breach, now=now) for _ in range(2))
    assert first is not None and first == second
    assert alerts._record(AlertKind.SLA_BREACH, *first, now) is True
    assert alerts._record(AlertKind.SLA_BREACH, *second, now) is False
    assert AlertSent.objects.count() == 1
