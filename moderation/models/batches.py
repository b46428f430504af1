"""Inbound batches: what the flags API accepted, durable until an ingest worker processes it."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from .organizations import ApiKey


class BatchStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"


class InboundBatch(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    api_key = models.ForeignKey(ApiKey, on_delete=models.PROTECT, related_name="batches")
    # The Standard Webhooks message id; a second delivery of it is a replay (CONTRACT §3).
    webhook_id = models.CharField(max_length=256)
    # The validated items, end-user ids already hashed; emptied once processed.
    payload = models.JSONField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=BatchStatus.choices, default=BatchStatus.PENDING
    )
    received = models.PositiveIntegerField()
    created = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    enqueued_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["api_key", "webhook_id"], name="batch_unique_webhook_id"
            )
        ]
        indexes = [
            # The sweeper's scan: only the (few) pending rows, oldest enqueue first.
            models.Index(
                fields=["enqueued_at"],
                name="batch_pending_idx",
                condition=models.Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"batch {self.id} ({self.status})"

    def answer(self) -> dict[str, object]:
        """The 202 body; a replay of the same webhook-id gets it again."""
        return {"batch_id": str(self.id), "received": self.received}
