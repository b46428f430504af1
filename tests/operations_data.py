"""A fixed data set for the operations dashboard, small enough to count by hand
(tests/services/test_operations.py works each figure out from these rows).

The clock: NOW is 10 March 2026, 12:30 UTC, so the last 24 hours run from 9 March 13:00 to
10 March 13:00 (the window ends at the top of the hour after now). Times below are on 10 March
unless they say otherwise.

    item  queue      received  decisions (reviewer, verdict, decided, seconds spent)
    A     standard   10:00     alice no_violation 10:30 (60)
    B     standard   11:05     alice violation 12:05 (120)          → warn, delivered 12:07
    C     critical   09:00     bob violation 11:00 (30)             → failed delivery
    D     critical   11:30     bob violation 11:50 (90)             → with C: delivered 11:55
    E     standard   08:00     alice escalate 08:30 (200); in the escalated queue from 08:30;
                               carol violation 11:30 (40)
    F     standard   09:00     alice no_violation 09:10 (10), undone; bob no_violation 09:40 (50)
    G     gold       10:00     alice violation 10:20 (15)            (golden: left out)
    H     standard   09:30     alice violation 10:00 (80), overturned by carol no_violation
                               12:00 (70)
    I     standard   9 March 12:00 (before the window)  bob no_violation 00:30 (100)
    J     standard   12:10     waiting

Deliveries created in the window: B's warning (delivered), the action on C and D (delivered),
one on C alone (failed), one by hand with no decision behind it (delivered 10:01), one pending;
and one created on 9 March 10:00, before the window (delivered, left out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from accounts.roles import Role
from moderation.models import (
    Decision,
    Delivery,
    DeliveryStatus,
    EnforcementAction,
    FlaggedItem,
    ItemState,
    QueueSample,
    ReviewQueue,
    Verdict,
    VoidReason,
)
from tests.factories import FlaggedItemFactory, GoldItemFactory, SubjectFactory, UserFactory

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


def at(hour: int, minute: int = 0, day: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@dataclass
class Data:
    alice: Any
    bob: Any
    carol: Any
    decisions: dict[str, Decision]


def _item(
    subject: Any, received: datetime, queue: str = ReviewQueue.STANDARD, **more: Any
) -> FlaggedItem:
    fields = {"received_at": received, "queued_at": received, "queue": queue}
    return FlaggedItemFactory(subject=subject, **(fields | more))


def _decide(
    item: FlaggedItem, reviewer: Any, verdict: str, decided: datetime, spent: int, **more: Any
) -> Decision:
    fields: dict[str, Any] = {"from_queue": item.queue} | more
    return Decision.objects.create(
        item=item,
        reviewer=reviewer,
        verdict=verdict,
        claimed_at=decided - timedelta(seconds=spent),
        decided_at=decided,
        seconds_spent=spent,
        **fields,
    )


def _delivery(
    subject: Any,
    basis: list[Decision],
    created: datetime,
    status: str,
    delivered: datetime | None = None,
) -> Delivery:
    action = EnforcementAction.objects.create(
        subject=subject,
        kind="warn",
        state="taken",
        decided_by="threshold" if basis else "reviewer",
        reason="fixed data",
        violations=1,
        reviewed=1,
        violation_rate=1.0,
        created_at=created,
    )
    action.basis.set(basis)
    return Delivery.objects.create(
        action=action,
        organization=subject.organization,
        webhook_id=f"msg_{action.pk}",
        url="https://platform.example/hooks",
        payload={},
        status=status,
        attempts=1,
        created_at=created,
        delivered_at=delivered,
    )


def fixed_data() -> Data:
    alice = UserFactory(username="alice", role=Role.REVIEWER)
    bob = UserFactory(username="bob", role=Role.REVIEWER)
    carol = UserFactory(username="carol", role=Role.SENIOR)
    user = SubjectFactory()
    v, n, e = Verdict.VIOLATION, Verdict.NO_VIOLATION, Verdict.ESCALATE
    decided = ItemState.DECIDED
    d: dict[str, Decision] = {}

    a = _item(user, at(10), state=decided)
    d["A"] = _decide(a, alice, n, at(10, 30), 60)
    b = _item(user, at(11, 5), state=decided)
    d["B"] = _decide(b, alice, v, at(12, 5), 120)
    c = _item(user, at(9), ReviewQueue.CRITICAL, state=decided)
    d["C"] = _decide(c, bob, v, at(11), 30)
    dd = _item(user, at(11, 30), ReviewQueue.CRITICAL, state=decided)
    d["D"] = _decide(dd, bob, v, at(11, 50), 90)

    item_e = _item(user, at(8), state=decided)
    d["E1"] = _decide(item_e, alice, e, at(8, 30), 200)
    FlaggedItem.objects.filter(pk=item_e.pk).update(
        queue=ReviewQueue.ESCALATED, queued_at=at(8, 30)
    )
    item_e.refresh_from_db()
    d["E2"] = _decide(item_e, carol, v, at(11, 30), 40)

    f = _item(user, at(9), state=decided)
    d["F1"] = _decide(
        f,
        alice,
        n,
        at(9, 10),
        10,
        voided_at=at(9, 11),
        voided_by=alice,
        void_reason=VoidReason.UNDONE,
    )
    d["F2"] = _decide(f, bob, n, at(9, 40), 50)

    g = _item(user, at(10), state=decided, gold=GoldItemFactory())
    d["G"] = _decide(g, alice, v, at(10, 20), 15)

    h = _item(user, at(9, 30), state=decided)
    d["H2"] = _decide(h, carol, n, at(12), 70)
    d["H1"] = _decide(
        h,
        alice,
        v,
        at(10),
        80,
        voided_at=at(12),
        voided_by=carol,
        void_reason=VoidReason.OVERTURNED,
        replaced_by=d["H2"],
    )

    i = _item(user, at(12, day=9), state=decided)
    d["I"] = _decide(i, bob, n, at(0, 30), 100)
    _item(user, at(12, 10))  # J, waiting

    _delivery(user, [d["B"]], at(12, 6), DeliveryStatus.DELIVERED, at(12, 7))
    _delivery(user, [d["C"], d["D"]], at(11, 51), DeliveryStatus.DELIVERED, at(11, 55))
    _delivery(user, [d["C"]], at(11, 1), DeliveryStatus.FAILED)
    _delivery(user, [], at(10), DeliveryStatus.DELIVERED, at(10, 1))
    _delivery(user, [d["B"]], at(12, 20), DeliveryStatus.PENDING)
    _delivery(user, [d["I"]], at(10, day=9), DeliveryStatus.DELIVERED, at(10, 1, day=9))

    QueueSample.objects.bulk_create(
        [
            QueueSample(taken_at=at(11, 58), queue="standard", depth=5, oldest_age_seconds=600),
            QueueSample(taken_at=at(11, 59), queue="standard", depth=7, oldest_age_seconds=660),
            QueueSample(taken_at=at(12, 29), queue="standard", depth=2, oldest_age_seconds=1200),
            QueueSample(
                taken_at=at(12, 29), queue="critical", depth=1, oldest_age_seconds=30, overdue=0
            ),
            QueueSample(
                taken_at=at(12, 59, day=9), queue="standard", depth=90, oldest_age_seconds=9000
            ),
        ]
    )
    return Data(alice=alice, bob=bob, carol=carol, decisions=d)


# --- A busy few days, for the browser tests and the screenshot -----------------------------

REVIEWERS = ("rita", "vic", "noor", "tomas", "ines")


def demo_data(
    *,
    now: datetime,
    days: int = 8,
    seed: int = 11,
    reviewers: list[Any] | None = None,
    senior: Any = None,
) -> None:
    """`days` days of traffic up to `now`: items arriving on a daily rhythm, five reviewers and
    a senior deciding them, a handful of escalations, actions delivered (a few failing) and a
    queue sample every five minutes. Built with bulk inserts: a few thousand rows."""
    import random

    rng = random.Random(seed)
    people = reviewers or [UserFactory(username=name, role=Role.REVIEWER) for name in REVIEWERS]
    sam = senior or UserFactory(username="sam", role=Role.SENIOR)
    user = SubjectFactory()
    org = user.organization
    hour0 = now.replace(minute=0, second=0, microsecond=0) - timedelta(days=days)
    items, plans = [], []
    n = 0
    for h in range(days * 24 + 1):
        start = hour0 + timedelta(hours=h)
        # Busy in the (UTC) afternoon, quiet at night.
        rate = 14 + 10 * math.sin((start.hour - 9) / 24 * 2 * math.pi) + rng.uniform(-3, 3)
        for _ in range(max(2, round(rate))):
            received = start + timedelta(seconds=rng.randint(0, 3599))
            if received >= now:
                continue
            critical = rng.random() < 0.12
            queue = ReviewQueue.CRITICAL if critical else ReviewQueue.STANDARD
            wait = rng.uniform(3, 75) * 60 if critical else rng.expovariate(1 / 5400)
            decided = received + timedelta(seconds=wait)
            # One in twenty standard items is escalated, and a senior decides it 1-5 h later.
            escalated = None
            if not critical and rng.random() < 0.05:
                escalated, decided = decided, decided + timedelta(hours=rng.uniform(1, 5))
            moved = escalated is not None and escalated < now
            n += 1
            items.append(
                FlaggedItem(
                    organization=org,
                    subject=user,
                    request_id=f"demo-{n}",
                    prompt="demo",
                    flagged_at=received,
                    received_at=received,
                    queued_at=escalated if moved else received,
                    due_at=received,
                    queue=ReviewQueue.ESCALATED if moved else queue,
                    state=ItemState.DECIDED if decided < now else ItemState.PENDING,
                )
            )
            plans.append((escalated, decided))
    FlaggedItem.objects.bulk_create(items, batch_size=1000)
    decisions = []
    for item, (escalated, decided) in zip(items, plans, strict=True):
        if escalated is not None and escalated < now:
            took = rng.randint(30, 200)
            decisions.append(
                Decision(
                    item=item,
                    reviewer=rng.choice(people),
                    verdict=Verdict.ESCALATE,
                    from_queue=ReviewQueue.STANDARD,
                    note="unsure",
                    claimed_at=escalated - timedelta(seconds=took),
                    decided_at=escalated,
                    seconds_spent=took,
                )
            )
        if decided >= now:
            continue
        who = sam if escalated or rng.random() < 0.06 else rng.choice(people)
        spent = max(8, int(rng.gauss(50 + 15 * people.index(who) if who in people else 90, 20)))
        verdict = Verdict.VIOLATION if rng.random() < 0.35 else Verdict.NO_VIOLATION
        decisions.append(
            Decision(
                item=item,
                reviewer=who,
                verdict=verdict,
                from_queue=item.queue,
                claimed_at=decided - timedelta(seconds=spent),
                decided_at=decided,
                seconds_spent=spent,
            )
        )
    Decision.objects.bulk_create(decisions, batch_size=1000)
    for decision in decisions:
        if decision.verdict != Verdict.VIOLATION or rng.random() > 0.3:
            continue
        created = decision.decided_at + timedelta(seconds=rng.randint(1, 20))
        if created >= now:
            continue
        roll = rng.random()
        status = (
            DeliveryStatus.FAILED
            if roll < 0.04
            else DeliveryStatus.PENDING
            if roll < 0.07
            else DeliveryStatus.DELIVERED
        )
        done = created + timedelta(seconds=rng.randint(1, 240))
        _delivery(
            user,
            [decision],
            created,
            status,
            done if status == DeliveryStatus.DELIVERED and done < now else None,
        )
    samples = []
    moment = hour0
    while moment <= now:
        t = (moment - hour0).total_seconds() / 3600
        wave = math.sin((moment.hour + moment.minute / 60 - 11) / 24 * 2 * math.pi)
        shapes = {
            "standard": (60 + 45 * wave + rng.uniform(-6, 6), 3600 + 2600 * wave),
            "critical": (3 + 3 * wave + rng.uniform(-1, 2), 1500 + 1500 * wave + 600 * math.sin(t)),
            "escalated": (
                6 + 3 * math.sin(t / 7) + rng.uniform(-1, 1),
                5400 + 2400 * math.sin(t / 9),
            ),
            "audit": (2 + rng.uniform(-1, 1), 20000 + 8000 * math.sin(t / 13)),
        }
        for queue, (depth, age) in shapes.items():
            depth = max(0, round(depth))
            samples.append(
                QueueSample(
                    taken_at=moment.replace(second=0, microsecond=0),
                    queue=queue,
                    depth=depth,
                    oldest_age_seconds=max(30, round(age + rng.uniform(-120, 120)))
                    if depth
                    else None,
                    overdue=int(queue == "critical" and age > 3600),
                )
            )
        moment += timedelta(minutes=5)
    QueueSample.objects.bulk_create(samples, batch_size=2000)
