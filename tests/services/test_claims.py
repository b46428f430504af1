"""Claims: highest priority first, one holder per item, leases that run out and come back."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from accounts.roles import Role
from moderation.models import (
    AuditAction,
    AuditEvent,
    FlaggedItem,
    ItemState,
    QualitySettings,
    ReviewQueue,
)
from moderation.services import claims
from tests.factories import FlaggedItemFactory, GoldItemFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_it_claims_the_highest_priority_then_the_oldest(reviewer):
    now = timezone.now()
    low = FlaggedItemFactory(priority=100)
    old = FlaggedItemFactory(priority=900, received_at=now - timedelta(hours=1))
    FlaggedItemFactory(priority=900, received_at=now)
    item = claims.claim_next(user=reviewer)
    assert item == old
    item.refresh_from_db()
    assert item.state == ItemState.CLAIMED and item.claimed_by == reviewer
    assert item.lease_expires_at > now + timedelta(minutes=9)
    assert low.pk != item.pk


def test_it_gives_back_the_item_already_held(reviewer):
    FlaggedItemFactory.create_batch(3)
    first = claims.claim_next(user=reviewer)
    assert claims.claim_next(user=reviewer) == first
    assert FlaggedItem.objects.filter(state=ItemState.CLAIMED).count() == 1


def test_it_records_the_claim_in_the_audit_log(reviewer):
    item = FlaggedItemFactory()
    claims.claim_next(user=reviewer)
    event = AuditEvent.objects.get(action=AuditAction.ITEM_CLAIM)
    assert event.actor == reviewer and event.item == item and event.subject == item.subject


def test_two_reviewers_get_different_items(reviewer, senior):
    FlaggedItemFactory.create_batch(2)
    assert claims.claim_next(user=reviewer) != claims.claim_next(user=senior)


def test_it_returns_none_when_nothing_waits(reviewer):
    assert claims.claim_next(user=reviewer) is None


def test_reviewers_never_claim_escalated_items_but_seniors_do(reviewer, senior):
    FlaggedItemFactory(queue=ReviewQueue.ESCALATED, state=ItemState.ESCALATED, priority=5000)
    standard = FlaggedItemFactory(priority=1)
    assert claims.claim_next(user=reviewer) == standard
    assert claims.claim_next(user=senior).queue == ReviewQueue.ESCALATED


def test_a_reviewer_asking_for_the_escalated_queue_gets_nothing(reviewer):
    FlaggedItemFactory(queue=ReviewQueue.ESCALATED, state=ItemState.ESCALATED)
    assert claims.claim_next(user=reviewer, queue=ReviewQueue.ESCALATED) is None


def test_it_claims_from_the_queue_asked_for(reviewer):
    FlaggedItemFactory(queue=ReviewQueue.CRITICAL, priority=4000)
    standard = FlaggedItemFactory(queue=ReviewQueue.STANDARD, priority=10)
    assert claims.claim_next(user=reviewer, queue=ReviewQueue.STANDARD) == standard


def test_it_offers_skipped_items_after_every_other(reviewer):
    top = FlaggedItemFactory(priority=900)
    second = FlaggedItemFactory(priority=100)
    assert claims.claim_next(user=reviewer, skipped=[top.pk]) == second


def test_when_only_skipped_items_remain_it_offers_them_again_the_latest_skip_last(reviewer):
    # A reviewer who skipped everything in sight is not told "Queue empty" while items wait.
    top = FlaggedItemFactory(priority=900)
    middle = FlaggedItemFactory(priority=500)
    low = FlaggedItemFactory(priority=100)
    # Newest skip first, as the console keeps them: `middle` was skipped last.
    skipped = [middle.pk, low.pk, top.pk]
    assert claims.claim_next(user=reviewer, skipped=skipped) == top
    assert claims.claim_release(item=top, user=reviewer)
    assert claims.claim_next(user=reviewer, skipped=[top.pk, middle.pk, low.pk]) == middle


def test_the_item_just_skipped_comes_back_only_when_nothing_else_waits(reviewer):
    only = FlaggedItemFactory()
    assert claims.claim_next(user=reviewer, skipped=[only.pk]) == only


def test_it_gives_back_the_held_item_whatever_queue_is_asked_for_and_records_no_skip(reviewer):
    # The filtered queue page says "You hold item #N; this opens it again": it must.
    held = FlaggedItemFactory(queue=ReviewQueue.STANDARD)
    FlaggedItemFactory(queue=ReviewQueue.CRITICAL, priority=4000)
    assert claims.claim_next(user=reviewer, queue=ReviewQueue.STANDARD) == held
    assert claims.claim_next(user=reviewer, queue=ReviewQueue.CRITICAL) == held
    held.refresh_from_db()
    assert held.state == ItemState.CLAIMED and held.claimed_by == reviewer
    assert not AuditEvent.objects.filter(action=AuditAction.ITEM_SKIP).exists()
    assert FlaggedItem.objects.filter(state=ItemState.CLAIMED).count() == 1


def test_skip_returns_the_item_to_its_queue(reviewer):
    item = FlaggedItemFactory()
    claims.claim_next(user=reviewer)
    assert claims.claim_release(item=item, user=reviewer) is True
    item.refresh_from_db()
    assert item.state == ItemState.PENDING and item.claimed_by is None
    assert AuditEvent.objects.filter(action=AuditAction.ITEM_SKIP, item=item).exists()


def test_only_the_holder_can_release(reviewer, senior):
    item = FlaggedItemFactory()
    claims.claim_next(user=reviewer)
    assert claims.claim_release(item=item, user=senior) is False
    item.refresh_from_db()
    assert item.claimed_by == reviewer


def test_renewal_extends_a_live_lease_only(reviewer, senior):
    item = FlaggedItemFactory()
    claims.claim_next(user=reviewer)
    FlaggedItem.objects.filter(pk=item.pk).update(
        lease_expires_at=timezone.now() + timedelta(seconds=5)
    )
    assert claims.claim_renew(item=item, user=reviewer) is True
    item.refresh_from_db()
    assert item.lease_expires_at > timezone.now() + timedelta(minutes=9)
    assert claims.claim_renew(item=item, user=senior) is False
    FlaggedItem.objects.filter(pk=item.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert claims.claim_renew(item=item, user=reviewer) is False


def test_expired_leases_go_back_to_their_queue(reviewer, senior):
    item = FlaggedItemFactory()
    escalated = FlaggedItemFactory(queue=ReviewQueue.ESCALATED, state=ItemState.ESCALATED)
    claims.claim_next(user=reviewer)
    claims.claim_next(user=senior, queue=ReviewQueue.ESCALATED)
    later = timezone.now() + timedelta(minutes=11)
    assert claims.claims_expire(now=later) == 2
    item.refresh_from_db()
    escalated.refresh_from_db()
    assert item.state == ItemState.PENDING and item.claimed_by is None
    assert escalated.state == ItemState.ESCALATED
    event = AuditEvent.objects.filter(action=AuditAction.ITEM_LEASE_EXPIRED, item=item).get()
    assert event.actor is None and event.detail == {"holder": reviewer.pk}


def test_live_leases_are_left_alone(reviewer):
    FlaggedItemFactory()
    claims.claim_next(user=reviewer)
    assert claims.claims_expire() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_never_share_an_item():
    """Sixteen reviewers claim at the same moment, each on its own connection."""
    FlaggedItemFactory.create_batch(40)
    users = [UserFactory(username=f"r{n}", role=Role.REVIEWER) for n in range(16)]
    barrier = threading.Barrier(len(users))
    got: dict[int, list[int]] = {}

    def reviewer_loop(user) -> None:
        try:
            barrier.wait()
            mine = []
            for _ in range(3):
                item = claims.claim_next(user=user)
                if item is None:
                    break
                mine.append(item.pk)
                # Decide-like: leave the item so the next claim takes a new one.
                FlaggedItem.objects.filter(pk=item.pk).update(
                    state=ItemState.DECIDED, claimed_by=None
                )
            got[user.pk] = mine
        finally:
            connection.close()

    threads = [threading.Thread(target=reviewer_loop, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    claimed = [pk for pks in got.values() for pk in pks]
    assert len(got) == 16
    assert len(claimed) == len(set(claimed)) == 40


def test_a_claim_that_serves_gold_leaves_the_real_item_exactly_as_it_was(reviewer):
    """The claim takes the real item in one statement; serving gold in its place puts every
    claimed column back, a lease that ran out before included, and records no claim of it."""
    earlier = timezone.now() - timedelta(hours=3)
    real = FlaggedItemFactory(claimed_at=earlier, lease_expires_at=earlier + timedelta(minutes=5))
    GoldItemFactory(organization=real.organization)
    QualitySettings.objects.update_or_create(pk=1, defaults={"gold_percent": Decimal(100)})
    served = claims.claim_next(user=reviewer)
    assert served is not None and served.gold_id is not None and served.pk != real.pk
    real.refresh_from_db()
    assert real.state == ItemState.PENDING and real.claimed_by_id is None
    assert real.claimed_at == earlier
    assert real.lease_expires_at == earlier + timedelta(minutes=5)
    assert not AuditEvent.objects.filter(item=real, action=AuditAction.ITEM_CLAIM).exists()


def test_the_claimed_item_comes_back_whole(reviewer):
    """The item the one-statement claim returns is the row as stored, every field read back
    through its field (the same as loading it)."""
    item = FlaggedItemFactory()
    claimed = claims.claim_next(user=reviewer)
    assert claimed is not None and claimed.pk == item.pk
    stored = FlaggedItem.objects.get(pk=item.pk)
    for field in FlaggedItem._meta.concrete_fields:
        assert getattr(claimed, field.attname) == getattr(stored, field.attname), field.name
    assert claimed.claimed_by == reviewer and claimed.state == ItemState.CLAIMED
