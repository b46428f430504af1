"""Undo: the deciding reviewer takes their own decision back, within minutes, as long as
nobody else has acted on the item; the item comes back to them undecided, the decision
stays on record as undone, and the figures and actions follow (`enforcement_correct`).
Split from services/review.py, which records decisions and overturns them."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from moderation.models import (
    AuditAction,
    Decision,
    FlaggedItem,
    ItemState,
    ReviewQueue,
    Verdict,
    VoidReason,
)
from moderation.services import claims, second_review, sla
from moderation.services.audit import audit_record
from moderation.services.claims import reviewable_queues
from moderation.services.enforcement import enforcement_correct
from moderation.services.review import category_slugs


class UndoRefused(Exception):
    """The decision can no longer be undone (or not by this user); nothing was changed."""


def undo_window() -> timedelta:
    return timedelta(seconds=settings.MODQUEUE_UNDO_SECONDS)


def _minutes(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    if seconds % 60:
        return f"{seconds} seconds"
    minutes = seconds // 60
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _undo_refusal(decision: Decision, user: User, locked: FlaggedItem, now: datetime) -> str | None:
    """Why the user may not undo the decision now, or None. `locked` is the decision's item,
    as it is now (locked when about to act on the answer)."""
    if decision.reviewer_id != user.pk:
        return "Only the reviewer who made a decision can undo it."
    if decision.voided_at is not None:
        if decision.void_reason == VoidReason.OVERTURNED:
            return "This decision has been overturned; it can no longer be undone."
        if decision.void_reason == VoidReason.ADJUDICATED:
            return (
                "A senior settled the disagreement with a second reviewer; this decision can "
                "no longer be undone."
            )
        return "This decision has already been undone."
    if decision.from_queue == ReviewQueue.ESCALATED and decision.is_final:
        from moderation.services import adjudication  # it builds on this module

        if adjudication.is_adjudication(decision):
            return adjudication.NO_UNDO
    if now - decision.decided_at > undo_window():
        return (
            f"A decision can be undone for {_minutes(undo_window())} only; "
            "a senior or admin can still overturn it."
        )
    if decision.from_queue not in reviewable_queues(user):
        return "You may no longer review this item's queue."
    # Anyone's later decision on the item (even one since undone) means someone else acted.
    if locked.decisions.filter(pk__gt=decision.pk).exists():
        return "Someone else has acted on this item since; your decision stands."
    sampled = second_review.undo_check(decision=decision, user=user, locked=locked)
    if sampled is not None:
        # A sampled decision: undoable only while its second review still waits.
        return sampled or None
    if decision.verdict == Verdict.ESCALATE and locked.gold_id is not None:
        # An escalated golden item was retired, not sent to seniors: nobody took it up.
        if locked.state != ItemState.RETIRED:
            return "Someone else has acted on this item since; your decision stands."
    elif decision.verdict == Verdict.ESCALATE:
        if locked.state != ItemState.ESCALATED:
            return "A senior has taken up the escalated item; your escalation stands."
    elif locked.state != ItemState.DECIDED:
        return "Someone else has acted on this item since; your decision stands."
    return None


def decision_undoable(
    *,
    decision: Decision,
    user: User,
    now: datetime | None = None,
    item: FlaggedItem | None = None,
) -> bool:
    """Whether `user` may undo `decision` now (no lock taken: for showing the button);
    `item`, the decision's item when the caller has it already."""
    if item is None or item.pk != decision.item_id:
        item = FlaggedItem.objects.get(pk=decision.item_id)
    return _undo_refusal(decision, user, item, now or timezone.now()) is None


def undoable_decision(*, user: User, now: datetime | None = None) -> Decision | None:
    """The decision the page offers to undo: the user's latest decision, if it still stands
    and may still be undone. After an undo (or once an overturn replaced it) nothing is
    offered: Undo takes back the last decision, not the one before it."""
    now = now or timezone.now()
    latest = (
        Decision.objects.filter(reviewer=user, decided_at__gte=now - undo_window())
        .select_related("item")
        .order_by("-decided_at", "-pk")
        .first()
    )
    if latest is None or latest.voided_at is not None:
        return None
    if second_review.answered_since(user=user, since=latest.decided_at):
        return None
    return latest if _undo_refusal(latest, user, latest.item, now) is None else None


def undoable_fresh(*, decision: Decision, user: User) -> Decision | None:
    """`undoable_decision` for the decision this request has just recorded (`decision_record`
    returned it), without reading it back: the user's own final or escalating decision, made
    a moment ago from a queue they review and not yet voided, is their latest and still
    undoable, unless someone acted on its item in the milliseconds since (the offer is only
    an offer: `decision_undo` checks again under the item's lock). What only a read can tell
    (a blind second answer, which returns someone else's decision; a senior's decision in
    the escalated queue, which may settle a disagreement) takes the long way."""
    if (
        decision.reviewer_id != user.pk
        or decision.voided_at is not None
        or decision.from_queue == ReviewQueue.ESCALATED
        or timezone.now() - decision.decided_at > undo_window()
    ):
        return undoable_decision(user=user)
    return decision


@transaction.atomic
def decision_undo(*, decision: Decision, user: User, now: datetime | None = None) -> FlaggedItem:
    """Take the decision back: it is voided (on record as undone, its audit row kept), the
    item goes back undecided to the queue it was decided from and into the reviewer's hands
    under a fresh lease, and the user's figures and actions follow the final decisions.
    Raises UndoRefused, changing nothing, once it may no longer be undone."""
    now = now or timezone.now()
    locked = FlaggedItem.objects.select_for_update(of=("self",)).get(pk=decision.item_id)
    decision = Decision.objects.select_for_update().get(pk=decision.pk)
    refusal = _undo_refusal(decision, user, locked, now)
    if refusal is not None:
        raise UndoRefused(refusal)
    categories = list(decision.categories.all())
    # A decision still waiting for its second answer never counted: nothing to correct.
    uncounted = second_review.undo_cancel(decision=decision)
    decision.voided_at = now
    decision.voided_by = user
    decision.void_reason = VoidReason.UNDONE
    decision.save(update_fields=["voided_at", "voided_by", "void_reason"])

    # One item at a time: whatever the reviewer took up since goes back to its queue.
    claims.claims_release_held(user=user, reason="undo", keep=locked)
    if locked.queue != decision.from_queue:
        # An undone escalation: back to its first queue on that queue's clock, which ran from
        # its arrival (only escalation moves an item between queues), not the escalation's.
        locked.queue = decision.from_queue
        locked.queued_at = locked.received_at
        locked.due_at = sla.due_at(
            queued_at=locked.received_at,
            target=sla.target_for(locked.queue),
            priority=locked.priority,
        )
    locked.decided_at = None
    locked.save(update_fields=["decided_at", "queued_at", "due_at"])
    claims.claim_hand(item=locked, user=user, now=now)
    audit_record(
        actor=user,
        action=AuditAction.ITEM_UNDO,
        item=locked,
        detail={
            "decision": decision.pk,
            "verdict": decision.verdict,
            "categories": category_slugs(categories),
        },
    )
    if decision.is_final and locked.gold_id is None and not uncounted:
        enforcement_correct(subject=locked.subject, cause=decision)
    return locked
