"""Reads shared by pages and the API."""

from __future__ import annotations

from django.db.models import Count, Min, Q, QuerySet

from moderation.models import (
    ApiKey,
    CategoryAlias,
    FlaggedItem,
    InboundBatch,
    ItemState,
    Organization,
    PolicyCategory,
    ReviewQueue,
    Subject,
)


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
        .first()
    )


def queue_summaries() -> list[dict[str, object]]:
    """Per review queue: pending count and the oldest pending item's receipt time."""
    rows = {
        row["queue"]: row
        for row in FlaggedItem.objects.filter(state=ItemState.PENDING)
        .values("queue")
        .annotate(pending=Count("id"), oldest=Min("received_at"))
    }
    return [
        {
            "queue": queue.value,
            "label": queue.label,
            "pending": rows.get(queue.value, {}).get("pending", 0),
            "oldest": rows.get(queue.value, {}).get("oldest"),
        }
        for queue in ReviewQueue
    ]


def pending_items(*, queue: str | None = None, limit: int = 50) -> QuerySet[FlaggedItem]:
    """The next pending items in review order (the order reviewers will claim them in)."""
    items = FlaggedItem.objects.filter(state=ItemState.PENDING)
    if queue:
        items = items.filter(queue=queue)
    return (
        items.select_related("organization")
        .prefetch_related("signals__category")
        .order_by("-priority", "received_at")[:limit]
    )
