"""SLA targets and the claim order they give (issue 11, docs/architecture.md "Claim order and
SLAs"): the due-time formula, admins' targets and the re-timing of waiting items, at risk and
overdue counts, undoing an escalation, and the property that nothing starves: an item is
claimed before every item that arrived at or after its due time, however strong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.roles import Role
from moderation import selectors
from moderation.models import (
    AuditAction,
    AuditEvent,
    FlaggedItem,
    ItemState,
    QueueTarget,
    ReviewQueue,
    Verdict,
)
from moderation.services import claims, sla
from moderation.services.undo import decision_undo
from tests.factories import FlaggedItemFactory, SubjectFactory, UserFactory, decide

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


# --- the formula ---------------------------------------------------------------------------


def test_a_weak_signal_is_due_after_the_whole_target_the_strongest_after_half():
    assert sla.due_at(queued_at=NOW, target=24 * HOUR, priority=0) == NOW + 24 * HOUR
    assert sla.due_at(queued_at=NOW, target=24 * HOUR, priority=4000) == NOW + 12 * HOUR
    assert sla.due_at(queued_at=NOW, target=24 * HOUR, priority=2000) == NOW + 18 * HOUR


def test_priorities_beyond_the_scale_count_as_its_ends():
    assert sla.due_at(queued_at=NOW, target=HOUR, priority=9999) == NOW + HOUR / 2
    assert sla.due_at(queued_at=NOW, target=HOUR, priority=-5) == NOW + HOUR


def test_the_seeded_targets_are_the_issues_defaults():
    assert sla.targets() == {
        "critical": HOUR,
        "escalated": 4 * HOUR,
        "standard": 24 * HOUR,
        "audit": 72 * HOUR,
    }


def test_standing_is_at_risk_from_three_quarters_of_the_target_and_overdue_past_it():
    target = 4 * HOUR
    assert sla.standing(queued_at=NOW, target=target, now=NOW + 2 * HOUR) == sla.Standing.ON_TIME
    assert sla.standing(queued_at=NOW, target=target, now=NOW + 3 * HOUR) == sla.Standing.AT_RISK
    assert sla.standing(queued_at=NOW, target=target, now=NOW + 4 * HOUR) == sla.Standing.AT_RISK
    assert (
        sla.standing(queued_at=NOW, target=target, now=NOW + 4 * HOUR + timedelta(seconds=1))
        == sla.Standing.OVERDUE
    )


def test_target_text_names_hours_and_minutes():
    assert [sla.target_text(t) for t in (HOUR, 90 * HOUR / 60, timedelta(minutes=45))] == [
        "1 h",
        "1 h 30 min",
        "45 min",
    ]


# --- admins set the targets ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "unit", "minutes"),
    [("90", "minutes", 90), ("1.5", "hours", 90), ("1", "minutes", 1), ("720", "hours", 43200)],
)
def test_it_reads_minutes_and_hours(amount, unit, minutes):
    assert sla.target_parse(amount, unit) == minutes


@pytest.mark.parametrize(
    ("amount", "unit", "message"),
    [
        ("0", "minutes", "From 1 minute to 30 days (720 hours)."),
        ("721", "hours", "From 1 minute to 30 days (720 hours)."),
        ("43201", "minutes", "From 1 minute to 30 days (720 hours)."),
        ("-3", "hours", "From 1 minute to 30 days (720 hours)."),
        ("1.5", "minutes", "Whole minutes only."),
        ("0.01", "hours", "Whole minutes only."),
        ("", "hours", "A number: minutes or hours."),
        ("soon", "hours", "A number: minutes or hours."),
        ("NaN", "hours", "A number: minutes or hours."),
        ("1", "days", "Choose minutes or hours."),
    ],
)
def test_it_refuses_what_is_not_one_minute_to_thirty_days(amount, unit, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        sla.target_parse(amount, unit)


def test_a_bad_target_names_every_bad_queue_and_changes_nothing(admin_user):
    with pytest.raises(sla.TargetsInvalid) as invalid:
        sla.targets_parse(
            {"critical": ("0", "minutes"), "standard": ("2", "hours"), "audit": ("x", "hours")}
        )
    assert set(invalid.value.errors) == {"critical", "audit"}
    with pytest.raises(sla.TargetsInvalid):
        sla.targets_save(minutes={"critical": 0, "standard": 120}, actor=admin_user, via="test")
    assert sla.target_for("standard") == 24 * HOUR
    assert not AuditEvent.objects.filter(action=AuditAction.SLA_TARGETS).exists()


def test_saving_a_target_retimes_the_waiting_items_of_that_queue_only(admin_user):
    now = timezone.now()
    weak = FlaggedItemFactory(queue=ReviewQueue.STANDARD, priority=0, queued_at=now - HOUR)
    strong = FlaggedItemFactory(queue=ReviewQueue.STANDARD, priority=3999, queued_at=now)
    capped = FlaggedItemFactory(queue=ReviewQueue.STANDARD, priority=7000, queued_at=now)
    decided = FlaggedItemFactory(queue=ReviewQueue.STANDARD, state=ItemState.DECIDED)
    critical = FlaggedItemFactory(queue=ReviewQueue.CRITICAL, priority=100)
    untouched = {decided.pk: decided.due_at, critical.pk: critical.due_at}

    retimed = sla.targets_save(minutes={"standard": 90, "critical": 60}, actor=admin_user, via="t")

    assert retimed == {"standard": 3}
    for item in (weak, strong, capped):
        item.refresh_from_db()
        # The SQL gives, to the microsecond, what ingest gives an item arriving now.
        assert item.due_at == sla.due_at(
            queued_at=item.queued_at, target=timedelta(minutes=90), priority=item.priority
        )
    assert {i.pk: i.due_at for i in FlaggedItem.objects.filter(pk__in=untouched)} == untouched
    (event,) = AuditEvent.objects.filter(action=AuditAction.SLA_TARGETS)
    assert event.actor == admin_user
    assert event.detail == {
        "before": {"standard": 1440},
        "after": {"standard": 90},
        "retimed": {"standard": 3},
        "via": "t",
    }
    assert QueueTarget.objects.get(queue="standard").updated_by == admin_user


def test_the_claim_order_follows_a_changed_target(admin_user):
    """A standard item waiting 2 h is due in 22 h, after a fresh critical one; once the
    standard target is 1 h it is overdue and comes first."""
    now = timezone.now()
    old = FlaggedItemFactory(queue=ReviewQueue.STANDARD, queued_at=now - 2 * HOUR)
    fresh = FlaggedItemFactory(queue=ReviewQueue.CRITICAL, priority=4000, queued_at=now)
    assert list(selectors.pending_items()) == [fresh, old]

    sla.targets_save(minutes={"standard": 60}, actor=admin_user, via="test")

    assert list(selectors.pending_items()) == [old, fresh]
    assert claims.claim_next(user=admin_user) == old


def test_saving_the_same_targets_writes_nothing(admin_user):
    assert sla.targets_save(minutes={"standard": 1440}, actor=admin_user, via="test") == {}
    assert not AuditEvent.objects.filter(action=AuditAction.SLA_TARGETS).exists()
    assert QueueTarget.objects.get(queue="standard").updated_by is None


# --- at risk and overdue on /queue/ --------------------------------------------------------


def test_queue_summaries_count_at_risk_and_overdue_per_queue(django_assert_num_queries):
    now = timezone.now()
    for waited in (10, 50, 59, 61, 120):  # critical: target 1 h, at risk from 45 min
        FlaggedItemFactory(queue=ReviewQueue.CRITICAL, queued_at=now - timedelta(minutes=waited))
    FlaggedItemFactory(queue=ReviewQueue.STANDARD, queued_at=now - 19 * HOUR)  # 79 %: at risk
    FlaggedItemFactory(
        queue=ReviewQueue.STANDARD, queued_at=now - 30 * HOUR, state=ItemState.DECIDED
    )
    with django_assert_num_queries(2):  # the targets, the counts
        rows = {r["queue"]: r for r in selectors.queue_summaries(now=now)}
    assert (rows["critical"]["pending"], rows["critical"]["at_risk"]) == (5, 2)
    assert rows["critical"]["overdue"] == 2
    assert rows["critical"]["oldest"] == now - 2 * HOUR
    assert (rows["standard"]["pending"], rows["standard"]["at_risk"]) == (1, 1)
    assert rows["standard"]["overdue"] == 0
    assert rows["audit"] == {
        "queue": "audit",
        "label": "Exception audit",
        "target": 72 * HOUR,
        "target_text": "72 h",
        "pending": 0,
        "oldest": None,
        "overdue": 0,
        "at_risk": 0,
    }


def test_sla_marked_marks_each_listed_item():
    now = timezone.now()
    late = FlaggedItemFactory(queue=ReviewQueue.CRITICAL, queued_at=now - 2 * HOUR)
    risky = FlaggedItemFactory(queue=ReviewQueue.CRITICAL, queued_at=now - 50 * 60 * HOUR / 3600)
    fine = FlaggedItemFactory(queue=ReviewQueue.STANDARD, queued_at=now - 2 * HOUR)
    marks = {i.pk: i.standing for i in selectors.sla_marked(selectors.pending_items(), now=now)}
    assert marks == {late.pk: "overdue", risky.pk: "at_risk", fine.pk: ""}


# --- escalation resets the clock, undoing it puts the first clock back ---------------------


def test_escalating_starts_the_escalated_queues_clock_and_undo_restores_the_first():
    reviewer = UserFactory(username="rita", role=Role.REVIEWER)
    received = timezone.now() - 3 * HOUR
    item = FlaggedItemFactory(
        subject=SubjectFactory(), queue=ReviewQueue.STANDARD, priority=1000, received_at=received
    )
    first_due = item.due_at
    assert claims.claim_next(user=reviewer) == item
    escalation = decide(item, Verdict.ESCALATE, reviewer=reviewer)
    item.refresh_from_db()
    assert item.queue == ReviewQueue.ESCALATED and item.queued_at > received
    assert item.due_at == sla.due_at(queued_at=item.queued_at, target=4 * HOUR, priority=1000)

    decision_undo(decision=escalation, user=reviewer)

    item.refresh_from_db()
    assert item.queue == ReviewQueue.STANDARD
    assert (item.queued_at, item.due_at) == (received, first_due)


def test_undoing_a_decision_leaves_the_clock_alone():
    reviewer = UserFactory(username="rita", role=Role.REVIEWER)
    item = FlaggedItemFactory(queue=ReviewQueue.STANDARD, queued_at=timezone.now() - HOUR)
    clock = (item.queued_at, item.due_at)
    assert claims.claim_next(user=reviewer) == item
    decision_undo(decision=decide(item, Verdict.NO_VIOLATION, reviewer=reviewer), user=reviewer)
    item.refresh_from_db()
    assert (item.queued_at, item.due_at) == clock


# --- no starvation -------------------------------------------------------------------------

QUEUES = [ReviewQueue.CRITICAL, ReviewQueue.STANDARD, ReviewQueue.AUDIT, ReviewQueue.ESCALATED]

arrivals = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=3 * 24 * 60),  # minutes after the stream starts
        st.integers(min_value=0, max_value=4000),  # priority: strongest signal × severity
        st.sampled_from(QUEUES),
        st.integers(min_value=0, max_value=2),  # claims made right after this arrival
    ),
    min_size=1,
    max_size=14,
)
target_minutes = st.fixed_dictionaries(
    {q.value: st.integers(min_value=1, max_value=72 * 60) for q in QUEUES}
)


@settings(max_examples=30, deadline=None, database=None)
@given(stream=arrivals, minutes=target_minutes)
def test_no_item_is_passed_by_one_that_arrived_after_it_was_due(stream, minutes):
    """Items arrive in time order, any queues, any scores, under any targets; an admin (who
    may review every queue) claims through the real `claim_next` between arrivals, then
    drains the queues. Bound: item x is claimed before every item that arrived at or after
    due(x) = queued(x) + target × (1 − urgency/2) ≤ queued(x) + target; so at most the
    items that arrived by x's own target time go ahead of it, and no stream of newer
    flags, however strong, holds it back."""
    with transaction.atomic():
        admin = UserFactory(username="ada-sla", role=Role.ADMIN)
        subject = SubjectFactory()
        sla.targets_save(minutes=minutes, actor=None, via="test")
        start = timezone.now() - timedelta(days=4)
        order: list[FlaggedItem] = []

        def claim() -> bool:
            item = claims.claim_next(user=admin)
            if item is None:
                return False
            order.append(item)
            item.release_to(ItemState.DECIDED, decided_at=timezone.now())
            return True

        arrived = []
        for offset, priority, queue, claims_after in sorted(stream, key=lambda a: a[0]):
            queued_at = start + timedelta(minutes=offset)
            arrived.append(
                FlaggedItemFactory(
                    subject=subject,
                    organization=subject.organization,
                    queue=queue,
                    state=ItemState.ESCALATED
                    if queue == ReviewQueue.ESCALATED
                    else ItemState.PENDING,
                    priority=priority,
                    received_at=queued_at,
                    queued_at=queued_at,
                    due_at=sla.due_at(
                        queued_at=queued_at, target=sla.target_for(queue), priority=priority
                    ),
                )
            )
            for _ in range(claims_after):
                claim()
        while claim():
            pass

        assert sorted(i.pk for i in order) == sorted(i.pk for i in arrived)  # each once
        position = {item.pk: n for n, item in enumerate(order)}
        for x in arrived:
            for y in arrived:
                if y.queued_at >= x.due_at:
                    assert position[x.pk] < position[y.pk], (x, y)
        transaction.set_rollback(True)


def test_a_weak_item_is_not_starved_by_a_stream_of_strong_ones():
    """The property's example: a weak standard item (due after 24 h) and a critical item of
    the strongest score every 10 minutes for two days; claims keep pace with arrivals. The
    weak one is claimed before every critical item that arrives after its due time."""
    admin = UserFactory(username="ada", role=Role.ADMIN)
    start = timezone.now() - timedelta(days=3)
    weak = FlaggedItemFactory(queue=ReviewQueue.STANDARD, priority=0, queued_at=start)
    claimed = []
    for n in range(1, 2 * 24 * 6):
        at = start + timedelta(minutes=10 * n)
        FlaggedItemFactory(queue=ReviewQueue.CRITICAL, priority=4000, queued_at=at, received_at=at)
        item = claims.claim_next(user=admin)
        assert item is not None
        item.release_to(ItemState.DECIDED)
        claimed.append(item)
        if item == weak:
            break
    assert weak in claimed
    assert all(i.queued_at < weak.due_at for i in claimed if i != weak)
