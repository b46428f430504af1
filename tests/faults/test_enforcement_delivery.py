"""The enforcement webhook of CONTRACT §5, delivered by real RQ workers to a real endpoint.

Decisions go through the services in this process; real `rqworker` processes over the test
database and a private redis-server deliver the actions to a local receiver, which checks
each request with the reference `standardwebhooks` library. The receiver answers 500,
refuses connections, or holds a request while its worker is SIGKILLed: each action still
arrives, signed, with one `webhook-id`, and is accepted exactly once.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from moderation.models import (
    ActionKind,
    ActionState,
    Delivery,
    DeliveryStatus,
    EnforcementAction,
    Subject,
    SubjectStatus,
    Verdict,
)
from moderation.services import deliveries, enforcement
from moderation.services.deliveries import RETRY_DELAYS
from moderation.services.organizations import enforcement_endpoint_set
from tests.factories import SubjectFactory, decide
from tests.faults.conftest import WORKER_CLASSES
from tests.processes import Redis, Stack, wait_for
from tests.webhooks import Received, Receiver, receiving

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]

# Generous: a killed attempt holds its delivery for 30 s (deliveries.IN_FLIGHT), and a
# loaded 2-core CI machine needs a few seconds more for the sweep and the attempt.
SETTLE = 60
# The retry delays shrunk twenty-fold: 0.5 s, 3 s, 6 s, … instead of 10 s, 60 s, 120 s, …
RETRY_SCALE = 0.05
# Stack runs the workers' periodic tasks (deliveries_due among them) every second.
SWEEP_SECONDS = 1
BODY_KEYS = {
    "action_id",
    "action",
    "organization",
    "user_id_hash",
    "reason",
    "categories",
    "violations",
    "reviewed",
    "violation_rate",
    "decided_by",
    "effective_at",
}


@pytest.fixture
def workers(
    private_redis: Redis, tmp_path: Path, transactional_db: None, settings: Any, worker_kind: str
) -> Iterator[Stack]:
    """Real RQ workers (started by the test) and this process enqueueing to their Redis."""
    settings.MODQUEUE_INLINE_JOBS = False
    settings.RQ_QUEUES = {
        name: {**config, "URL": private_redis.url} for name, config in settings.RQ_QUEUES.items()
    }
    stack = Stack(
        private_redis,
        tmp_path,
        worker_class=WORKER_CLASSES[worker_kind],
        MODQUEUE_RETRY_DELAY_SCALE=str(RETRY_SCALE),
    )
    yield stack
    stack.stop_all()


def point_at(organization: Any, receiver: Receiver) -> None:
    receiver.secret = enforcement_endpoint_set(
        organization=organization, url=receiver.url, allow_private=True
    )


def violation(subject: Subject, reviewer: Any) -> None:
    decide(subject, Verdict.VIOLATION, "fraud", reviewer=reviewer)


def settled(stack: Stack, condition: Callable[[], object], what: str) -> None:
    try:
        wait_for(condition, timeout=SETTLE, what=what, every=0.2)
    except AssertionError as timed_out:
        raise AssertionError(f"{timed_out}\n{stack.logs()}") from None


def delivered(action: EnforcementAction) -> Callable[[], bool]:
    return Delivery.objects.filter(action=action, status=DeliveryStatus.DELIVERED).exists


def last_taken(subject: Subject) -> EnforcementAction:
    return subject.actions.filter(state=ActionState.TAKEN).order_by("-created_at")[0]


def assert_signed_contract_body(got: Received, action: EnforcementAction) -> None:
    delivery = Delivery.objects.get(action=action)
    assert got.verified, "the signature did not verify with the organization's secret"
    assert got.webhook_id == delivery.webhook_id
    assert got.headers["content-type"] == "application/json"
    assert got.body == delivery.payload
    assert got.body["type"] == "enforcement.action"
    assert got.body["timestamp"].endswith("Z")
    data = got.body["data"]
    assert set(data) == BODY_KEYS
    subject = action.subject
    assert data["action_id"] == str(action.pk)
    assert data["action"] == action.kind
    assert data["organization"] == subject.organization.slug
    assert data["user_id_hash"] == subject.user_id_hash
    assert data["reason"] == action.reason != ""
    assert data["violations"] == action.violations
    assert data["reviewed"] == action.reviewed
    assert data["violation_rate"] == pytest.approx(action.violation_rate)
    assert data["decided_by"] == action.decided_by
    assert data["effective_at"].endswith("Z")


def sweeps_pass(count: int = 3) -> None:
    """Let the workers sweep a few more times, to catch a delivery sent twice."""
    time.sleep(count * SWEEP_SECONDS)


def test_a_user_moves_through_every_action_and_each_arrives_once(workers, acme, reviewer, senior):
    workers.start_worker()
    workers.start_worker()
    subject = SubjectFactory(organization=acme)
    taken: list[EnforcementAction] = []
    with receiving(Receiver()) as receiver:
        point_at(acme, receiver)
        for count, status, kind in (
            (1, SubjectStatus.WARNED, ActionKind.WARN),
            (2, SubjectStatus.RESTRICTED, ActionKind.RESTRICT),
        ):
            for _ in range(count):
                violation(subject, reviewer)
            subject.refresh_from_db()
            assert subject.status == status
            action = last_taken(subject)
            assert (action.kind, action.decided_by) == (kind, "threshold")
            taken.append(action)
            settled(workers, delivered(action), f"the {kind} to be delivered")

        # Five violations of five reviewed: removal is proposed, and nothing is sent for that.
        violation(subject, reviewer)
        violation(subject, reviewer)
        proposal = subject.actions.get(state=ActionState.PROPOSED)
        assert not Delivery.objects.filter(action=proposal).exists()
        subject.refresh_from_db()
        assert subject.status == SubjectStatus.RESTRICTED

        taken.append(enforcement.removal_approve(action=proposal, user=senior, note="confirmed"))
        subject.refresh_from_db()
        assert subject.status == SubjectStatus.REMOVED
        settled(workers, delivered(taken[-1]), "the removal to be delivered")

        taken.append(
            enforcement.action_by_hand(
                subject=subject, kind=ActionKind.REINSTATE, user=senior, reason="identity mix-up"
            )
        )
        settled(workers, delivered(taken[-1]), "the reinstatement to be delivered")
        sweeps_pass()
        got = receiver.all()

    assert [r.body["data"]["action"] for r in got] == ["warn", "restrict", "remove", "reinstate"]
    assert all(r.accepted for r in got)
    assert len({r.webhook_id for r in got}) == 4
    for received, action in zip(got, taken, strict=True):
        assert_signed_contract_body(received, action)
    data = [r.body["data"] for r in got]
    assert [d["decided_by"] for d in data] == ["threshold", "threshold", "threshold", "reviewer"]
    assert [(d["violations"], d["reviewed"]) for d in data] == [(1, 1), (3, 3), (5, 5), (5, 5)]
    assert [d["categories"] for d in data[:3]] == [["fraud"]] * 3
    assert data[2]["violation_rate"] == 1.0
    for delivery in Delivery.objects.all():
        assert delivery.attempts == 1
        assert [a.status_code for a in delivery.attempt_log.all()] == [204]


@pytest.mark.parametrize("failure", ["HTTP 500", "connection refused"])
def test_a_failing_receiver_gets_the_action_late_but_once(workers, acme, reviewer, failure):
    failures = 2
    workers.start_worker()
    workers.start_worker()
    if failure == "HTTP 500":
        # Slow failures, so the recorded latency can be checked.
        receiver = Receiver(fail_first=failures, fail_status=500, fail_delay=0.2)
        receiver.start()
    else:
        receiver = Receiver()  # not listening yet: every connection is refused
    try:
        point_at(acme, receiver)
        subject = SubjectFactory(organization=acme)
        violation(subject, reviewer)
        action = last_taken(subject)
        delivery = Delivery.objects.get(action=action)

        if failure == "connection refused":

            def refused_enough() -> bool:
                return delivery.attempt_log.count() >= failures

            settled(workers, refused_enough, f"{failures} refused attempts")
            receiver.start()
        settled(workers, delivered(action), "the late delivery")
        sweeps_pass()
        got = receiver.all()
    finally:
        receiver.stop()

    accepted = [r for r in got if r.accepted]
    assert len(accepted) == 1
    assert_signed_contract_body(accepted[0], action)
    # Every request carried the same message, under the same webhook-id, signed.
    assert {r.webhook_id for r in got} == {delivery.webhook_id}
    assert all(r.verified and r.body == delivery.payload for r in got)

    delivery.refresh_from_db()
    attempts = list(delivery.attempt_log.all())
    assert delivery.attempts == len(attempts)
    assert [a.number for a in attempts] == list(range(1, len(attempts) + 1))
    *failed, last = attempts
    assert (last.status_code, last.error, last.manual) == (204, "", False)
    assert delivery.delivered_at == last.at and delivery.next_attempt_at is None
    if failure == "HTTP 500":
        assert len(failed) == failures and len(got) == failures + 1
        for attempt in failed:
            assert attempt.status_code == 500
            assert attempt.error == "HTTP 500 Internal Server Error"
            assert attempt.latency_ms >= 200
    else:
        assert len(failed) >= failures and len(got) == 1
        for attempt in failed:
            assert attempt.status_code is None
            assert "Connection refused" in attempt.error
    # Retries back off: each waits at least its (scaled) delay after the one before.
    for n, (before, after) in enumerate(zip(attempts, attempts[1:], strict=False)):
        assert after.at - before.at >= timedelta(seconds=RETRY_DELAYS[n] * RETRY_SCALE)


def _children_of(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in children.read_text().split()] if children.exists() else []


def test_a_worker_killed_mid_delivery_does_not_lose_it(workers, acme, reviewer, worker_kind):
    doomed = workers.start_worker()
    with receiving(Receiver(hold_first=True)) as receiver:
        point_at(acme, receiver)
        subject = SubjectFactory(organization=acme)
        violation(subject, reviewer)
        action = last_taken(subject)
        settled(workers, receiver.holding.is_set, "the worker to be mid-delivery")

        # RQ's work horse calls setsid(), so it is not in the worker's process group.
        horses = _children_of(doomed.popen.pid)
        if worker_kind == "forking":
            assert horses, "the worker forked no work horse"
        else:
            assert not horses, "the in-process worker forked"
        for pid in horses:
            os.kill(pid, signal.SIGKILL)
        doomed.kill(signal.SIGKILL)
        receiver.release.set()

        delivery = Delivery.objects.get(action=action)
        # Claimed, sent, never answered: the claim holds it until the request would have
        # timed out, then the sweeper of any worker finds it due again.
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
        # The cut-short attempt is on the record, saying so.
        assert [(a.number, a.status_code, a.error) for a in delivery.attempt_log.all()] == [
            (1, None, deliveries.INTERRUPTED)
        ]
        assert delivery.next_attempt_at > timezone.now()

        workers.start_worker()
        settled(workers, delivered(action), "the delivery after the crash")
        sweeps_pass()
        got = receiver.all()

    assert [r.answered for r in got] == [503, 204]
    assert_signed_contract_body(got[1], action)
    assert got[0].webhook_id == got[1].webhook_id and got[0].body == got[1].body
    delivery.refresh_from_db()
    assert delivery.attempts == 2
    assert [(a.number, a.status_code) for a in delivery.attempt_log.all()] == [(1, None), (2, 204)]
