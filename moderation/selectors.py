"""Reads shared by pages and the API."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db.models import (
    Count,
    Exists,
    F,
    Func,
    IntegerField,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Window,
)
from django.utils import timezone

from accounts.roles import RANK, Role, user_role
from moderation.models import (
    GOLD_SUBJECT_HASH,
    WAITING_STATES,
    ActionState,
    ApiKey,
    Appeal,
    AppealState,
    CategoryAlias,
    Decision,
    Delivery,
    DeliveryStatus,
    EnforcementAction,
    FlaggedItem,
    InboundBatch,
    ItemState,
    Organization,
    PolicyCategory,
    ReviewQueue,
    SecondReview,
    SecondReviewState,
    Signal,
    Subject,
)
from moderation.services import config_cache, sla


def category_labels() -> dict[str, str]:
    """Every label an upstream may send (slug or alias) mapped to its category slug."""
    labels = {slug: slug for slug in PolicyCategory.objects.values_list("slug", flat=True)}
    labels.update(CategoryAlias.objects.values_list("alias", "category__slug"))
    return labels


def organization_slugs(slugs: set[str]) -> set[str]:
    return set(Organization.objects.filter(slug__in=slugs).values_list("slug", flat=True))


def batch_for_key(api_key: ApiKey, batch_id: str) -> InboundBatch | None:
    """A batch the key may read: its own, or any of its organization's."""
    scope = Q(api_key=api_key)
    if api_key.organization_id:
        scope |= Q(api_key__organization_id=api_key.organization_id)
    return InboundBatch.objects.filter(scope, pk=batch_id).first()


def subject_find(*, organization: Organization, user_id_hash: str) -> Subject | None:
    return (
        Subject.objects.select_related("organization")
        .filter(organization=organization, user_id_hash=user_id_hash)
        # The reserved subject of golden items is nobody's: never found.
        .exclude(user_id_hash=GOLD_SUBJECT_HASH)
        .first()
    )


def queue_summaries(
    queues: list[ReviewQueue] | None = None, *, now: datetime | None = None
) -> list[dict[str, object]]:
    """Per review queue: its target, how many items wait in it, when the oldest entered it,
    and how many have waited past the target (overdue) or AT_RISK_SHARE of it (at risk). One
    query over the waiting items' (queue, queued_at) index."""
    now = now or timezone.now()
    shown = queues if queues is not None else list(ReviewQueue)
    targets = sla.targets()
    overdue = Q()
    at_risk = Q()
    for queue, target in targets.items():
        overdue |= Q(queue=queue, queued_at__lt=now - target)
        at_risk |= Q(
            queue=queue,
            queued_at__gte=now - target,
            queued_at__lte=now - target * sla.AT_RISK_SHARE,
        )
    rows: dict[str, Mapping[str, Any]] = {
        row["queue"]: row
        # A golden item is only ever claimed by one reviewer; never counted as waiting.
        for row in FlaggedItem.objects.filter(state__in=WAITING_STATES, gold__isnull=True)
        .values("queue")
        .annotate(
            pending=Count("id"),
            oldest=Min("queued_at"),
            overdue=Count("id", filter=overdue),
            at_risk=Count("id", filter=at_risk),
        )
    }
    return [
        {
            "queue": queue.value,
            "label": queue.label,
            "target": targets[queue.value],
            "target_text": sla.target_text(targets[queue.value]),
            "pending": rows.get(queue.value, {}).get("pending", 0),
            "oldest": rows.get(queue.value, {}).get("oldest"),
            "overdue": rows.get(queue.value, {}).get("overdue", 0),
            "at_risk": rows.get(queue.value, {}).get("at_risk", 0),
        }
        for queue in shown
    ]


def sla_marked(items: Iterable[FlaggedItem], *, now: datetime | None = None) -> list[FlaggedItem]:
    """The items, each with its `standing` against its queue's target (services/sla.py: on
    time, at risk or overdue) for the queue page."""
    now = now or timezone.now()
    targets = sla.targets()
    marked = list(items)
    for item in marked:
        item.standing = sla.standing(  # type: ignore[attr-defined]
            queued_at=item.queued_at, target=targets[item.queue], now=now
        )
    return marked


def pending_items(
    *, queue: str | None = None, queues: list[ReviewQueue] | None = None, limit: int = 50
) -> QuerySet[FlaggedItem]:
    """The next waiting items in review order (the order reviewers will claim them in)."""
    items = FlaggedItem.objects.filter(state__in=WAITING_STATES, gold__isnull=True)
    if queues is not None:
        items = items.filter(queue__in=queues)
    if queue:
        items = items.filter(queue=queue)
    return (
        items.select_related("organization")
        .prefetch_related("signals__category")
        # A blind second review's disagreement waits among the escalations, marked.
        .annotate(
            disagreement=Exists(
                SecondReview.objects.filter(
                    item_id=OuterRef("pk"), state=SecondReviewState.DISAGREED
                )
            )
        )
        .order_by("due_at", "-priority", "id")[:limit]
    )


def held_items(*, limit: int = 100) -> tuple[list[FlaggedItem], int]:
    """Items someone holds, oldest claim first, for seniors on /queue/, and how many more
    there are beyond `limit`; one query. Golden servings are left out: who was served a
    check is nobody's business but the quality report's."""
    rows: list[FlaggedItem] = list(
        FlaggedItem.objects.filter(state=ItemState.CLAIMED, gold__isnull=True)
        .select_related("claimed_by")
        .annotate(held_total=Window(Count("id")))
        .order_by("claimed_at", "pk")[:limit]
    )
    total: int = getattr(rows[0], "held_total") if rows else 0  # noqa: B009 (an annotation)
    return rows, total - len(rows)


def item_signals(item: FlaggedItem) -> QuerySet[Signal]:
    return item.signals.select_related("category").order_by("-score")


def subject_history(
    subject: Subject, *, limit: int = 50, before: tuple[datetime, int] | None = None
) -> list[FlaggedItem]:
    """The subject's items, newest first, each with its decisions (and `latest_decision`,
    the latest one still standing: an undone or overturned verdict is no longer the item's).
    `before`, the (flagged_at, id) of the last item of a page: the items after it (older)."""
    found = subject.items.all()
    if before is not None:
        at, pk = before
        found = found.filter(Q(flagged_at__lt=at) | Q(flagged_at=at, pk__lt=pk))
    return items_history(found, limit=limit)


def items_history(found: QuerySet[FlaggedItem], *, limit: int = 50) -> list[FlaggedItem]:
    """These items as subject_history gives them: newest first, with their decisions."""
    items = list(
        found.select_related("organization")
        .prefetch_related(
            Prefetch(
                "decisions",
                # A decision waiting for its blind second answer is shown to nobody
                # (services/second_review.py): its item looks undecided.
                queryset=Decision.objects.exclude(second_review__state="pending")
                .select_related("reviewer")
                .prefetch_related("categories"),
            ),
            Prefetch("signals", queryset=Signal.objects.select_related("category")),
        )
        .order_by("-flagged_at", "-id")[:limit]
    )
    for item in items:
        standing = [d for d in item.decisions.all() if d.voided_at is None]
        item.latest_decision = standing[-1] if standing else None  # type: ignore[attr-defined]
    return items


def subject_recent(subject: Subject, *, besides: int, limit: int = 10) -> list[FlaggedItem]:
    """The item page's subject panel: the subject's last items but `besides` (the item shown),
    newest first, each with `latest_verdict`, the verdict of its latest standing decision
    (None when it has none; a decision waiting for its blind second answer is shown to
    nobody), as subject_history's `latest_decision` gives it. One query, and only the three
    columns the panel shows: this runs on every item a reviewer is given."""
    latest = (
        Decision.objects.standing()
        .filter(item=OuterRef("pk"))
        .exclude(second_review__state=SecondReviewState.PENDING)
        .order_by("-decided_at", "-id")
        .values("verdict")[:1]
    )
    return list(
        FlaggedItem.objects.filter(subject_id=subject.pk)
        .exclude(pk=besides)
        .only("id", "state", "flagged_at")
        .annotate(latest_verdict=Subquery(latest))
        .order_by("-flagged_at", "-id")[:limit]
    )


def decision_categories() -> list[PolicyCategory]:
    """The categories of the decision form in one fixed order, the same on every item, so a
    digit key always means the same category: the policy's own order (CONTRACT §7, the hard
    limits first), the order categories were added in, so a category an admin adds or
    renames, or whose severity changes, never moves another one's key."""
    return config_cache.cached("categories", lambda: list(PolicyCategory.objects.order_by("pk")))


def undo_candidate(*, item: FlaggedItem, user: User) -> Decision | None:
    """The user's latest standing decision on the item: the one "Undo" would take back."""
    return (
        Decision.objects.standing()
        .filter(item=item, reviewer=user)
        .order_by("-decided_at", "-id")
        .first()
    )


def item_decisions(item: FlaggedItem) -> list[Decision]:
    """Every decision on the item, oldest first, voided ones included (the item's record)."""
    return list(
        item.decisions.select_related("reviewer", "voided_by", "allowed_by__category")
        .prefetch_related("categories")
        .order_by("decided_at", "id")
    )


def subject_actions(subject: Subject) -> list[EnforcementAction]:
    return list(
        subject.actions.select_related("actor", "approved_by")
        .prefetch_related("appeals")
        .order_by("-created_at")
    )


def _count(rows: QuerySet[Any]) -> Subquery:
    """`(SELECT COUNT(*) FROM … WHERE …)` as a scalar subquery, to count beside others."""
    counted = rows.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n")
    return Subquery(counted, output_field=IntegerField())


def nav_counts(user: User) -> dict[str, int]:
    """What waits for the user's role, for the navigation's badges (CONTRACT §8 v2): for
    seniors and admins the escalated items (`disagreements` of them from a blind second
    review), the proposed removals and the open appeals; for admins also the failed
    deliveries. One query, each figure a scalar subquery on a partial or state index;
    reviewers (and the roleless) get nothing, without a query."""
    role = user_role(user)
    if role is None or RANK[role] < RANK[Role.SENIOR]:
        return {}
    escalated = FlaggedItem.objects.filter(state=ItemState.ESCALATED, gold__isnull=True)
    figures: dict[str, Subquery] = {
        "escalated": _count(escalated),
        "disagreements": _count(
            escalated.filter(
                Exists(
                    SecondReview.objects.filter(
                        item_id=OuterRef("pk"), state=SecondReviewState.DISAGREED
                    )
                )
            )
        ),
        "proposed": _count(EnforcementAction.objects.filter(state=ActionState.PROPOSED)),
        "appeals": _count(Appeal.objects.filter(state=AppealState.OPEN)),
    }
    if RANK[role] >= RANK[Role.ADMIN]:
        figures["failed_deliveries"] = _count(Delivery.objects.filter(status=DeliveryStatus.FAILED))
    row = User.objects.filter(pk=user.pk).annotate(**figures).values(*figures).first()
    return {name: value or 0 for name, value in (row or {}).items()}
