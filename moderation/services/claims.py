"""Claims: who reviews which item, under a lease, never two reviewers at once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.roles import Role, user_has_role
from moderation.models import AuditAction, FlaggedItem, ItemState, ReviewQueue
from moderation.services import gold_serving, second_review
from moderation.services.audit import audit_record


def reviewable_queues(user: User) -> list[ReviewQueue]:
    """The queues a user may claim from: the escalated one is for seniors and admins; a
    user without a role may claim from none."""
    if not user_has_role(user, Role.REVIEWER):
        return []
    queues = [ReviewQueue.CRITICAL, ReviewQueue.STANDARD, ReviewQueue.AUDIT]
    if user_has_role(user, Role.SENIOR):
        queues.append(ReviewQueue.ESCALATED)
    return queues


def lease_length() -> timedelta:
    return timedelta(seconds=settings.MODQUEUE_LEASE_SECONDS)


def claim_held(*, user: User, now: datetime | None = None) -> FlaggedItem | None:
    """The item the user holds under a live lease, if any (one at a time)."""
    now = now or timezone.now()
    return (
        FlaggedItem.objects.filter(
            state=ItemState.CLAIMED, claimed_by=user, lease_expires_at__gt=now
        )
        .order_by("claimed_at")
        .first()
    )


@transaction.atomic
def claim_next(
    *,
    user: User,
    queue: ReviewQueue | None = None,
    skipped: Sequence[int] = (),
) -> FlaggedItem | None:
    """Claim the highest-priority waiting item the user may review from `queue` (every
    queue they may review when None), or None when nothing there waits for them.

    A user who already holds an item gets that item again, whatever queue they ask for: a
    reload, a second tab or the queue page's "You hold item #N" never claims a second one,
    and nothing the user holds is ever given back on their behalf. `skipped` holds the items
    the user skipped, newest first: they come after every other waiting item, and the one
    skipped last comes last of all, so skipping never ends in a "Queue empty" that is not
    true. Rows other reviewers are claiming right now are skipped, not waited for
    (`SKIP LOCKED`), so concurrent claims never block or collide.

    Once a real item is found, a share of claims serves a golden item in its place
    (services/gold_serving.py); the real item stays where it is. Nothing real waiting means
    None, gold or not.
    """
    now = timezone.now()
    held = claim_held(user=user, now=now)
    if held is not None:
        return held

    if settings.MODQUEUE_INLINE_JOBS:
        # No workers in the demo to take back expired leases: do it here.
        claims_expire(now=now)

    allowed = reviewable_queues(user)
    queues = [queue] if queue in allowed else allowed if queue is None else []
    if not queues:
        return None
    waiting = Q(
        state=ItemState.PENDING, queue__in=[q for q in queues if q != ReviewQueue.ESCALATED]
    )
    if ReviewQueue.ESCALATED in queues:
        waiting |= Q(state=ItemState.ESCALATED)
    # Never the first reviewer's own decision waiting for its blind second answer.
    candidates = second_review.not_first_reviewer(
        FlaggedItem.objects.filter(waiting, gold__isnull=True), user=user
    )
    lease_until = now + lease_length()
    if connection.vendor != "postgresql":
        return _claim_in_steps(
            candidates, user=user, queues=queues, skipped=skipped, now=now, lease_until=lease_until
        )
    # PostgreSQL: the next free item is found, locked and claimed in one statement.
    claimed = _claim_first_free(
        candidates.exclude(pk__in=skipped), user=user, now=now, lease_until=lease_until
    )
    if claimed is None and skipped:
        # Only items the user skipped are left: offer them again, the latest skip last.
        claimed = _claim_first_free(
            candidates.filter(pk__in=skipped[1:]), user=user, now=now, lease_until=lease_until
        ) or _claim_first_free(
            candidates.filter(pk=skipped[0]), user=user, now=now, lease_until=lease_until
        )
    if claimed is None:
        return None
    item, before = claimed
    if gold_serving.gold_drawn(percent=gold_serving.gold_percent()):
        picked = gold_serving.gold_pick(user=user, queues=queues)
        if picked is not None:
            # Gold in its place: the real item goes back exactly as it was (still locked by
            # this transaction, so no one else can have claimed it meanwhile).
            FlaggedItem.objects.filter(pk=item.pk).update(**before)
            for name, value in before.items():
                setattr(item, name, value)
            gold, route = picked
            return gold_serving.gold_serve(
                gold=gold,
                route=route,
                user=user,
                now=now,
                lease_until=lease_until,
                instead_of=item,
            )
    audit_record(actor=user, action=AuditAction.ITEM_CLAIM, item=item)
    return item


# The columns a claim sets; their values before it, so that a claim can be taken back.
_CLAIM_FIELDS = ("state", "claimed_by_id", "claimed_at", "lease_expires_at")


def _claim_first_free(
    items: QuerySet[FlaggedItem], *, user: User, now: datetime, lease_until: datetime
) -> tuple[FlaggedItem, dict[str, object]] | None:
    """Claim the first of these items in review order that no one else is claiming right now,
    in one `UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING` (PostgreSQL):
    the item as claimed, and the claimed columns' values before the claim. None when none is
    free. The caller's transaction holds the row until it commits."""
    first = (
        items.select_for_update(skip_locked=True, of=("self",))
        .order_by("due_at", "-priority", "id")
        .values_list("pk", *_CLAIM_FIELDS)[:1]
    )
    try:
        select_sql, select_params = first.query.sql_with_params()
    except EmptyResultSet:  # e.g. `pk__in=[]`: nothing can match
        return None
    table = connection.ops.quote_name(FlaggedItem._meta.db_table)
    fields = FlaggedItem._meta.concrete_fields
    returning = ", ".join(f"{table}.{connection.ops.quote_name(str(f.column))}" for f in fields)
    before = ", ".join(f"b.{connection.ops.quote_name(f'was_{name}')}" for name in _CLAIM_FIELDS)
    sql = (
        f"UPDATE {table} SET state = %s, claimed_by_id = %s, claimed_at = %s, "
        f"lease_expires_at = %s "
        f"FROM ({select_sql}) AS b (id, {', '.join(f'was_{n}' for n in _CLAIM_FIELDS)}) "
        f"WHERE {table}.id = b.id RETURNING {returning}, {before}"
    )
    params = (ItemState.CLAIMED, user.pk, now, lease_until, *select_params)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    values = row[: len(fields)]
    converters = connection.ops.get_db_converters
    converted = []
    for field, value in zip(fields, values, strict=True):
        expression = field.get_col(FlaggedItem._meta.db_table)
        for converter in converters(expression) + expression.get_db_converters(connection):
            value = converter(value, expression, connection)
        converted.append(value)
    item = FlaggedItem.from_db(connection.alias, [f.attname for f in fields], converted)
    item.claimed_by = user
    return item, dict(zip(_CLAIM_FIELDS, row[len(fields) :], strict=True))


def _claim_in_steps(
    candidates: QuerySet[FlaggedItem],
    *,
    user: User,
    queues: list[ReviewQueue],
    skipped: Sequence[int],
    now: datetime,
    lease_until: datetime,
) -> FlaggedItem | None:
    """The same claim without `UPDATE … RETURNING` (SQLite, the demo): lock, then update."""
    item = _first_free(candidates.exclude(pk__in=skipped))
    if item is None and skipped:
        item = _first_free(candidates.filter(pk__in=skipped[1:])) or _first_free(
            candidates.filter(pk=skipped[0])
        )
    if item is None:
        return None
    if gold_serving.gold_drawn(percent=gold_serving.gold_percent()):
        picked = gold_serving.gold_pick(user=user, queues=queues)
        if picked is not None:
            gold, route = picked
            return gold_serving.gold_serve(
                gold=gold,
                route=route,
                user=user,
                now=now,
                lease_until=lease_until,
                instead_of=item,
            )
    item.state = ItemState.CLAIMED
    item.claimed_by = user
    item.claimed_at = now
    item.lease_expires_at = lease_until
    item.save(update_fields=["state", "claimed_by", "claimed_at", "lease_expires_at"])
    audit_record(actor=user, action=AuditAction.ITEM_CLAIM, item=item)
    return item


def _first_free(items: QuerySet[FlaggedItem]) -> FlaggedItem | None:
    """The first of these items in review order that no one else is claiming right now."""
    return (
        items.select_for_update(skip_locked=True, of=("self",))
        .order_by("due_at", "-priority", "id")
        .first()
    )


def claim_renew(*, item: FlaggedItem, user: User) -> bool:
    """Extend the user's live lease on the item; False if they no longer hold it."""
    now = timezone.now()
    renewed = FlaggedItem.objects.filter(
        pk=item.pk, state=ItemState.CLAIMED, claimed_by=user, lease_expires_at__gt=now
    ).update(lease_expires_at=now + lease_length())
    return renewed == 1


@transaction.atomic
def claim_release(*, item: FlaggedItem, user: User) -> bool:
    """Skip: give the item back to its queue (a golden item is retired). False if the user
    did not hold it."""
    locked = (
        FlaggedItem.objects.select_for_update()
        .filter(pk=item.pk, state=ItemState.CLAIMED, claimed_by=user)
        .first()
    )
    if locked is None:
        return False
    _release(locked, user=user, action=AuditAction.ITEM_SKIP)
    return True


def _release(
    item: FlaggedItem,
    *,
    user: User | None,
    action: AuditAction,
    detail: dict[str, object] | None = None,
) -> None:
    if item.gold_id is not None:
        # A golden item given up undecided is retired, never queued for someone else.
        item.release_to(ItemState.RETIRED)
    elif item.queue == ReviewQueue.ESCALATED:
        item.release_to(ItemState.ESCALATED)
    else:
        item.release_to(ItemState.PENDING)
    audit_record(actor=user, action=action, item=item, detail=detail)


@transaction.atomic
def claims_expire(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Return items whose lease ran out to their queue (retire golden ones); returns how many
    (run by the workers)."""
    now = now or timezone.now()
    expired = list(
        FlaggedItem.objects.select_for_update(skip_locked=True).filter(
            state=ItemState.CLAIMED, lease_expires_at__lte=now
        )[:limit]
    )
    for item in expired:
        _release(
            item,
            user=None,
            action=AuditAction.ITEM_LEASE_EXPIRED,
            detail={"holder": item.claimed_by_id},
        )
    return len(expired)


@transaction.atomic
def claims_release_held(*, user: User, reason: str, keep: FlaggedItem | None = None) -> int:
    """Give back every item the user holds (but `keep`), recorded as a release with its
    reason, never as a skip the reviewer did not make; returns how many."""
    held = FlaggedItem.objects.select_for_update().filter(state=ItemState.CLAIMED, claimed_by=user)
    if keep is not None:
        held = held.exclude(pk=keep.pk)
    items = list(held)
    for item in items:
        _release(item, user=user, action=AuditAction.ITEM_RELEASE, detail={"reason": reason})
    return len(items)


def claim_hand(*, item: FlaggedItem, user: User, now: datetime | None = None) -> None:
    """Put an item the caller has locked into the user's hands under a fresh lease (an undo
    gives the item back to its reviewer this way); the caller records why."""
    now = now or timezone.now()
    item.state = ItemState.CLAIMED
    item.claimed_by = user
    item.claimed_at = now
    item.lease_expires_at = now + lease_length()
    item.save(update_fields=["state", "queue", "claimed_by", "claimed_at", "lease_expires_at"])


@transaction.atomic
def claim_release_by_senior(*, item: FlaggedItem, user: User) -> bool:
    """A senior or admin (the view checks) gives back an item someone holds: it returns to
    its queue (a golden serving is retired), recorded as a release by them naming the holder.
    False, and nothing changes, if the item is no longer held."""
    locked = (
        FlaggedItem.objects.select_for_update(of=("self",))
        .select_related("claimed_by")
        .filter(pk=item.pk, state=ItemState.CLAIMED)
        .first()
    )
    if locked is None:
        return False
    holder = locked.claimed_by.get_username() if locked.claimed_by else ""
    _release(
        locked,
        user=user,
        action=AuditAction.ITEM_RELEASE,
        detail={"held_by": holder, "reason": "released by a senior"},
    )
    return True
