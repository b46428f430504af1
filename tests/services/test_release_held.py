"""A senior gives back an item someone else holds (claims.claim_release_by_senior)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from moderation import selectors
from moderation.models import AuditAction, AuditEvent, ItemState, ReviewQueue, Verdict
from moderation.services import claims
from moderation.services.review import ClaimConflict, decision_record
from tests.factories import FlaggedItemFactory, GoldItemFactory

pytestmark = pytest.mark.django_db


def held(user, **fields):
    now = timezone.now()
    return FlaggedItemFactory(
        state=ItemState.CLAIMED,
        claimed_by=user,
        claimed_at=now - timedelta(minutes=12),
        lease_expires_at=now + timedelta(minutes=3),
        **fields,
    )


def test_it_puts_the_item_back_in_its_queue_and_audits_it(reviewer, senior):
    item = held(reviewer)
    assert claims.claim_release_by_senior(item=item, user=senior) is True
    item.refresh_from_db()
    assert item.state == ItemState.PENDING and item.claimed_by is None
    assert item.claimed_at is None and item.lease_expires_at is None
    event = AuditEvent.objects.get(action=AuditAction.ITEM_RELEASE, item=item)
    assert event.actor == senior
    assert event.detail == {"held_by": reviewer.username, "reason": "released by a senior"}


def test_an_escalated_item_goes_back_to_the_escalated_queue(senior, admin_user):
    item = held(senior, queue=ReviewQueue.ESCALATED)
    assert claims.claim_release_by_senior(item=item, user=admin_user) is True
    item.refresh_from_db()
    assert item.state == ItemState.ESCALATED and item.queue == ReviewQueue.ESCALATED


def test_the_holder_may_no_longer_decide_it(reviewer, senior):
    item = held(reviewer)
    claims.claim_release_by_senior(item=item, user=senior)
    # Someone else claims it meanwhile: the first holder's decision is refused.
    assert claims.claim_next(user=senior) == item
    with pytest.raises(ClaimConflict, match="Another reviewer"):
        decision_record(
            item=item, reviewer=reviewer, verdict=Verdict.NO_VIOLATION, categories=[], note=""
        )


def test_an_item_no_longer_held_is_left_alone(reviewer, senior):
    item = FlaggedItemFactory()  # pending
    assert claims.claim_release_by_senior(item=item, user=senior) is False
    item.refresh_from_db()
    assert item.state == ItemState.PENDING
    assert not AuditEvent.objects.filter(action=AuditAction.ITEM_RELEASE).exists()


def test_a_golden_serving_is_retired_never_queued(reviewer, senior):
    item = held(reviewer, gold=GoldItemFactory())
    assert claims.claim_release_by_senior(item=item, user=senior) is True
    item.refresh_from_db()
    assert item.state == ItemState.RETIRED


def test_held_items_lists_claims_oldest_first_without_gold(reviewer, senior):
    now = timezone.now()
    newer = held(reviewer)
    older = held(senior)
    older.claimed_at = now - timedelta(hours=1)
    older.save()
    held(reviewer, gold=GoldItemFactory())
    FlaggedItemFactory()  # pending, not held
    rows, rest = selectors.held_items(limit=1)
    assert rows == [older] and rest == 1
    rows, rest = selectors.held_items()
    assert rows == [older, newer] and rest == 0
