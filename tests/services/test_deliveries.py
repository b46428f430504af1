"""The enforcement webhook (CONTRACT §5): signed, retried on a schedule, every attempt kept,
sent once per attempt, to a real HTTP endpoint on 127.0.0.1."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import django_rq
import pytest
from django.db import connection
from django.utils import timezone

from moderation.models import (
    ActionKind,
    ActionState,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    EnforcementAction,
    Subject,
    Verdict,
)
from moderation.services import deliveries
from moderation.services.deliveries import (
    MAX_ATTEMPTS,
    RETRY_DELAYS,
    deliveries_due,
    delivery_attempt,
    delivery_create,
)
from moderation.services.organizations import enforcement_endpoint_set
from tests.factories import SubjectFactory, decide, make_due
from tests.processes import free_port

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("contract_retry_delays")]


def action_on(subject: Subject) -> EnforcementAction:
    """A taken warning of the subject, made without a decision (no delivery of its own)."""
    return EnforcementAction.objects.create(
        subject=subject,
        kind=ActionKind.WARN,
        state=ActionState.TAKEN,
        decided_by="reviewer",
        reason="spam",
        violations=1,
        reviewed=2,
        violation_rate=0.5,
        effective_at=timezone.now(),
    )


def test_it_sends_a_signed_delivery_the_platform_verifies(platform, warned):
    receiver = platform()
    delivery = warned()
    attempt = delivery_attempt(delivery_id=delivery.pk)
    assert attempt is not None and attempt.ok
    assert (attempt.number, attempt.status_code, attempt.error, attempt.manual) == (
        1,
        204,
        "",
        False,
    )
    [got] = receiver.all()
    assert got.verified and got.webhook_id == delivery.webhook_id
    assert got.headers["content-type"] == "application/json"
    assert got.body == delivery.payload
    assert got.body["data"]["action"] == "warn"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 1
    assert delivery.delivered_at == attempt.at and delivery.next_attempt_at is None


def test_a_delivered_delivery_is_not_sent_again_by_the_schedule(platform, warned):
    receiver = platform()
    delivery = warned()
    delivery_attempt(delivery_id=delivery.pk)
    make_due(delivery)  # even if it looked due: only pending deliveries are attempted
    assert delivery_attempt(delivery_id=delivery.pk) is None
    assert len(receiver.all()) == 1


def test_a_failure_schedules_the_first_retry_within_30_seconds(platform, warned):
    receiver = platform(fail_first=1, fail_status=500)
    delivery = warned()
    first = delivery_attempt(delivery_id=delivery.pk)
    assert first is not None and not first.ok
    assert first.status_code == 500 and "500" in first.error
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert delivery.next_attempt_at == first.at + timedelta(seconds=RETRY_DELAYS[0])
    assert delivery.next_attempt_at - first.at <= timedelta(seconds=30)
    # Not due yet: nothing is sent.
    assert delivery_attempt(delivery_id=delivery.pk) is None
    make_due(delivery)
    second = delivery_attempt(delivery_id=delivery.pk)
    assert second is not None and second.ok and second.number == 2
    got = receiver.all()
    assert [r.answered for r in got] == [500, 204]
    assert all(r.verified for r in got)
    assert {r.webhook_id for r in got} == {delivery.webhook_id}


def test_it_retries_on_the_schedule_then_gives_up(platform, warned):
    receiver = platform(fail_first=100, fail_status=503)
    delivery = warned()
    for number in range(1, MAX_ATTEMPTS + 1):
        make_due(delivery)
        attempt = delivery_attempt(delivery_id=delivery.pk)
        assert attempt is not None and attempt.number == number
        delivery.refresh_from_db()
        if number < MAX_ATTEMPTS:
            assert delivery.status == DeliveryStatus.PENDING
            assert delivery.next_attempt_at == attempt.at + timedelta(
                seconds=RETRY_DELAYS[number - 1]
            )
    assert delivery.status == DeliveryStatus.FAILED and delivery.next_attempt_at is None
    assert delivery.attempts == MAX_ATTEMPTS
    # CONTRACT §5: at least 8 attempts over at least an hour.
    assert MAX_ATTEMPTS >= 8 and sum(RETRY_DELAYS[: MAX_ATTEMPTS - 1]) >= 3600
    log = list(delivery.attempt_log.all())
    assert [a.number for a in log] == list(range(1, MAX_ATTEMPTS + 1))
    for attempt in log:
        assert attempt.status_code == 503 and attempt.error.startswith("HTTP 503")
        assert attempt.latency_ms >= 0 and not attempt.manual
    got = receiver.all()
    assert len(got) == MAX_ATTEMPTS and all(r.verified for r in got)
    assert {r.webhook_id for r in got} == {delivery.webhook_id}
    # Failed: the schedule leaves it alone.
    make_due(delivery)
    assert delivery_attempt(delivery_id=delivery.pk) is None
    assert len(receiver.all()) == MAX_ATTEMPTS


def test_a_manual_redeliver_of_a_failed_delivery_sends_again_and_succeeds(platform, warned):
    receiver = platform(fail_first=MAX_ATTEMPTS)
    delivery = warned()
    for _ in range(MAX_ATTEMPTS):
        make_due(delivery)
        delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    attempt = delivery_attempt(delivery_id=delivery.pk, manual=True)
    assert attempt is not None and attempt.ok and attempt.manual
    assert attempt.number == MAX_ATTEMPTS + 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.delivered_at == attempt.at
    last = receiver.all()[-1]
    assert last.verified and last.answered == 204 and last.webhook_id == delivery.webhook_id


def test_an_endpoint_that_hangs_is_given_up_on_at_the_timeout(platform, warned, monkeypatch):
    monkeypatch.setattr(deliveries, "TIMEOUT_SECONDS", 1)
    receiver = platform(hold_first=True)
    delivery = warned()
    attempt = delivery_attempt(delivery_id=delivery.pk)
    assert receiver.holding.is_set()
    assert attempt is not None and attempt.status_code is None and not attempt.ok
    assert "timed out" in attempt.error
    assert 1000 <= attempt.latency_ms < 5000
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.next_attempt_at == attempt.at + timedelta(seconds=RETRY_DELAYS[0])


def test_an_endpoint_that_refuses_connections_is_recorded_and_retried(acme, warned):
    enforcement_endpoint_set(
        organization=acme, url=f"http://127.0.0.1:{free_port()}/hook", allow_private=True
    )
    delivery = warned()
    attempt = delivery_attempt(delivery_id=delivery.pk)
    assert attempt is not None and attempt.status_code is None
    assert "refused" in attempt.error.lower()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.next_attempt_at is not None


def test_an_organization_with_no_url_gets_no_delivery(acme, reviewer):
    subject = SubjectFactory(organization=acme)
    assert delivery_create(action=action_on(subject)) is None
    decide(subject, Verdict.VIOLATION, reviewer=reviewer)
    assert subject.actions.count() == 2
    assert not Delivery.objects.exists()


# --- the queue -----------------------------------------------------------------------------


def enforcement_jobs() -> list[tuple[str, tuple[Any, ...]]]:
    queue = django_rq.get_queue("enforcement")
    return [(job.func_name, job.args) for job in queue.get_jobs()]


def test_a_taken_action_enqueues_its_delivery_once_committed(
    platform, warned, redis_clean, django_capture_on_commit_callbacks
):
    receiver = platform()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        delivery = warned()
    assert enforcement_jobs() == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert enforcement_jobs() == [("moderation.jobs.deliver", (delivery.pk,))]
    # The job, run as a worker would, makes the attempt.
    django_rq.get_queue("enforcement").get_jobs()[0].perform()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert [r.webhook_id for r in receiver.accepted()] == [delivery.webhook_id]


def test_deliveries_due_enqueues_only_the_due_pending_ones(
    acme, redis_clean, django_capture_on_commit_callbacks
):
    enforcement_endpoint_set(organization=acme, url="https://platform.example/hook")
    now = timezone.now()
    made = {}
    for name, status, next_at in [
        ("due", DeliveryStatus.PENDING, now - timedelta(seconds=5)),
        ("later", DeliveryStatus.PENDING, now + timedelta(minutes=5)),
        ("delivered", DeliveryStatus.DELIVERED, None),
        ("failed", DeliveryStatus.FAILED, None),
    ]:
        delivery = delivery_create(action=action_on(SubjectFactory(organization=acme)))
        Delivery.objects.filter(pk=delivery.pk).update(status=status, next_attempt_at=next_at)
        made[name] = delivery.pk
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_due(now=now) == 1
    assert enforcement_jobs() == [("moderation.jobs.deliver", (made["due"],))]
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_due(now=now + timedelta(minutes=10)) == 2
    assert sorted(args[0] for _, args in enforcement_jobs()[1:]) == sorted(
        [made["due"], made["later"]]
    )


# --- concurrency -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_attempts_of_one_due_delivery_send_only_once(acme, platform, redis_clean):
    """Eight workers pick up the same due delivery at the same moment, each on its own
    connection: one sends, the others find it claimed."""
    receiver = platform()
    # Committed at once (transactional test): its job goes to the test Redis, emptied after.
    delivery = delivery_create(action=action_on(SubjectFactory(organization=acme)))
    assert delivery is not None
    workers = 8
    barrier = threading.Barrier(workers)
    results: list[DeliveryAttempt | None] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(delivery_attempt(delivery_id=delivery.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == workers
    sent = [r for r in results if r is not None]
    assert len(sent) == 1 and sent[0].ok
    assert len(receiver.all()) == 1
    assert DeliveryAttempt.objects.filter(delivery=delivery).count() == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.status == DeliveryStatus.DELIVERED
    assert receiver.all()[0].verified and receiver.all()[0].body == delivery.payload


def test_a_redirect_is_not_followed_nor_taken_for_a_delivery(acme, warned):
    """A 302 to a page that answers 200 (a login page, say) must stay a failed attempt."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    hits: list[str] = []

    class Redirecting(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            hits.append("POST " + self.path)
            self.send_response(302)
            self.send_header("Location", "/login")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802
            hits.append("GET " + self.path)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Redirecting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        enforcement_endpoint_set(
            organization=acme,
            url=f"http://127.0.0.1:{server.server_address[1]}/hook",
            allow_private=True,
        )
        delivery = warned()
        attempt = delivery_attempt(delivery_id=delivery.pk)
    finally:
        server.shutdown()
        server.server_close()
    assert hits == ["POST /hook"]
    assert attempt is not None and not attempt.ok and attempt.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING


def test_a_pending_delivery_follows_the_organizations_current_endpoint(platform, warned):
    old = platform()
    delivery = warned()
    new = platform()  # the platform moves its endpoint, with a fresh secret
    attempt = delivery_attempt(delivery_id=delivery.pk)
    assert attempt is not None and attempt.ok
    assert old.all() == []
    [got] = new.all()
    assert got.verified and got.webhook_id == delivery.webhook_id
    delivery.refresh_from_db()
    assert delivery.url == new.url and delivery.status == DeliveryStatus.DELIVERED


def test_a_pending_delivery_waits_while_the_organization_has_no_endpoint(acme, platform, warned):
    old = platform()
    delivery = warned()
    enforcement_endpoint_set(organization=acme, url="")
    attempt = delivery_attempt(delivery_id=delivery.pk)
    assert attempt is not None and not attempt.ok and attempt.status_code is None
    assert "no enforcement endpoint" in attempt.error
    assert old.all() == []
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.next_attempt_at is not None


def test_a_pending_retry_goes_to_the_new_endpoint_signed_with_the_new_secret(platform, warned):
    old = platform(fail_first=100)  # the old endpoint fails: the delivery waits for a retry
    delivery = warned()
    first = delivery_attempt(delivery_id=delivery.pk)
    assert first is not None and first.status_code == 500
    assert [got.verified for got in old.all()] == [True]
    new = platform()  # the platform moves its endpoint; a fresh secret comes with it
    assert new.secret != old.secret
    make_due(delivery)
    retry = delivery_attempt(delivery_id=delivery.pk)
    assert retry is not None and retry.ok and retry.number == 2
    assert len(old.all()) == 1
    [got] = new.all()  # verified by the new endpoint with the new secret only
    assert got.verified and got.webhook_id == delivery.webhook_id
    delivery.refresh_from_db()
    assert delivery.url == new.url and delivery.status == DeliveryStatus.DELIVERED
