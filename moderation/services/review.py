"""Decisions: a reviewer's verdict on the item they hold, final and recorded once."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from moderation.models import (
    AuditAction,
    Decision,
    FlaggedItem,
    ItemState,
    PolicyCategory,
    ReviewQueue,
    Verdict,
)
from moderation.services import policy
from moderation.services.audit import audit_record
from moderation.services.claims import reviewable_queues
from moderation.services.enforcement import enforcement_evaluate

MAX_NOTE = 5000


class ClaimConflict(Exception):
    """Someone else holds or has decided the item; nothing was recorded."""


class DecisionInvalid(Exception):
    """The decision breaks a rule (field, message); nothing was recorded."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _check(verdict: Verdict, categories: Sequence[PolicyCategory], note: str) -> None:
    if len(note) > MAX_NOTE:
        raise DecisionInvalid("note", f"A note has at most {MAX_NOTE} characters.")
    if verdict == Verdict.VIOLATION and not categories:
        raise DecisionInvalid("categories", "Choose at least one policy category for a violation.")
    if verdict == Verdict.NO_VIOLATION and categories:
        raise DecisionInvalid(
            "categories", "Uncheck the policy categories, or decide Violation instead."
        )
    if verdict == Verdict.ESCALATE and not note.strip():
        raise DecisionInvalid("note", "Say in the note why you escalate.")


@transaction.atomic
def decision_record(
    *,
    item: FlaggedItem,
    reviewer: AbstractBaseUser,
    verdict: Verdict,
    categories: Sequence[PolicyCategory],
    note: str,
) -> Decision:
    """Record the reviewer's decision on an item they hold, or may still take.

    The item row is locked first, so two decisions on one item are serialised and the
    second finds it decided. A reviewer whose lease ran out may still decide as long as
    nobody else took the item in the meantime.
    """
    _check(verdict, categories, note)
    now = timezone.now()
    locked = FlaggedItem.objects.select_for_update().get(pk=item.pk)
    if locked.state == ItemState.DECIDED:
        raise ClaimConflict("This item has already been decided; your decision was not recorded.")
    held_by_other = (
        locked.state == ItemState.CLAIMED
        and locked.claimed_by_id != reviewer.pk
        and locked.lease_expires_at is not None
        and locked.lease_expires_at > now
    )
    if held_by_other:
        raise ClaimConflict(
            "Your lease on this item ran out and another reviewer now holds it; "
            "your decision was not recorded."
        )
    if locked.queue not in reviewable_queues(reviewer):
        raise ClaimConflict("Only seniors and admins decide escalated items.")
    if verdict == Verdict.ESCALATE and locked.queue == ReviewQueue.ESCALATED:
        raise DecisionInvalid("verdict", "This item is already escalated: decide it.")

    allowed_by = None
    if verdict == Verdict.VIOLATION:
        # A violation in categories all excepted for this organization is recorded as
        # allowed under the exception, and not counted in the user's rate.
        allowed_by = policy.exception_covering(
            policy.exceptions_active(organization_id=locked.organization_id, now=now),
            [c.pk for c in categories],
        )
    mine = locked.state == ItemState.CLAIMED and locked.claimed_by_id == reviewer.pk
    claimed_at = locked.claimed_at if mine and locked.claimed_at else now
    decision = Decision.objects.create(
        item=locked,
        reviewer=reviewer,
        verdict=verdict,
        note=note.strip(),
        claimed_at=claimed_at,
        decided_at=now,
        seconds_spent=max(0, int((now - claimed_at).total_seconds())),
        allowed_by=allowed_by,
    )
    if categories:
        decision.categories.set(categories)

    if verdict == Verdict.ESCALATE:
        locked.state = ItemState.ESCALATED
        locked.queue = ReviewQueue.ESCALATED
        action = AuditAction.ITEM_ESCALATE
    else:
        locked.state = ItemState.DECIDED
        locked.decided_at = now
        action = AuditAction.ITEM_DECIDE
    locked.claimed_by = None
    locked.claimed_at = None
    locked.lease_expires_at = None
    locked.save(
        update_fields=[
            "state",
            "queue",
            "decided_at",
            "claimed_by",
            "claimed_at",
            "lease_expires_at",
        ]
    )
    audit_record(
        actor=reviewer,
        action=action,
        item=locked,
        detail={
            "verdict": verdict.value,
            "categories": sorted(c.slug for c in categories),
            "decision": decision.pk,
            **({"allowed_by_exception": allowed_by.pk} if allowed_by else {}),
        },
    )
    if verdict != Verdict.ESCALATE:
        # The user's figures, and what the thresholds make of them, move with each decision.
        enforcement_evaluate(subject=locked.subject)
    return decision
