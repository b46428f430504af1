"""The queue sampler (issue 11): each queue's depth, oldest wait and overdue items, one row
per queue a minute, taken by the workers' sweep. The operations dashboard reads the samples
(services/operations.py); this writes them."""

from __future__ import annotations

from datetime import datetime

from django.db.models import (
    Count,
    Min,
    Q,
)
from django.utils import timezone

from moderation.models import (
    WAITING_STATES,
    FlaggedItem,
    QueueSample,
)
from moderation.services import sla
from moderation.services.operations import QUEUES


def queue_sample(now: datetime | None = None) -> int:
    """Each queue's depth, oldest wait and overdue items at the minute of `now`: one row per
    queue and minute, however many workers sweep in that minute (the unique (queue, taken_at)
    drops a second worker's rows). Returns the rows written (0 when the minute was sampled)."""
    now = now or timezone.now()
    minute = now.replace(second=0, microsecond=0)
    sampled = QueueSample.objects.filter(taken_at=minute)
    before = sampled.count()
    if before >= len(QUEUES):
        # The sweep runs every few seconds: most find the minute done at this one count.
        return 0
    targets = sla.targets()
    overdue = Q()
    for queue, target in targets.items():
        overdue |= Q(queue=queue, queued_at__lt=now - target)
    rows = {
        row["queue"]: row
        for row in FlaggedItem.objects.filter(state__in=WAITING_STATES)
        .values("queue")
        .annotate(depth=Count("pk"), oldest=Min("queued_at"), overdue=Count("pk", filter=overdue))
        .order_by()
    }
    samples = []
    for queue in QUEUES:
        row = rows.get(queue)
        oldest = row["oldest"] if row else None
        samples.append(
            QueueSample(
                taken_at=minute,
                queue=queue,
                depth=row["depth"] if row else 0,
                oldest_age_seconds=None
                if oldest is None
                else max(0, int((now - oldest).total_seconds())),
                overdue=row["overdue"] if row else 0,
            )
        )
    QueueSample.objects.bulk_create(samples, ignore_conflicts=True)
    return sampled.count() - before
