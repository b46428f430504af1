"""Retention: prompt, response and conversation text goes N days after the item is decided.

Hashes, signals, categories, decisions, actions and counts stay, so rates and history
remain true; only the words people wrote are removed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from moderation.models import BatchStatus, FlaggedItem, InboundBatch, PolicySettings

CHUNK = 1000


def content_erase_items(item_ids: list[int], *, now: datetime) -> int:
    """Blank the text of these items (prompt, response, metadata, every turn of a
    conversation); returns how many. `flagged_turn`, an index, stays."""
    return FlaggedItem.objects.filter(pk__in=item_ids, content_erased_at__isnull=True).update(
        prompt="", response="", metadata={}, messages=None, content_erased_at=now
    )


def retention_erase(*, now: datetime | None = None, limit: int = 50_000) -> int:
    """Erase the text of items decided more than `retention_days` ago (periodic), and the
    payload of batches that failed for good as long ago."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=PolicySettings.current().retention_days)
    InboundBatch.objects.filter(
        status=BatchStatus.FAILED, received_at__lt=cutoff, payload__isnull=False
    ).update(payload=None)
    erased = 0
    while erased < limit:
        ids = list(
            FlaggedItem.objects.filter(content_erased_at__isnull=True, decided_at__lt=cutoff)
            .order_by("decided_at")
            .values_list("pk", flat=True)[:CHUNK]
        )
        if not ids:
            break
        with transaction.atomic():
            erased += content_erase_items(ids, now=now)
    return erased
