"""Flagged items and the classifier signals that flagged them."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from .batches import InboundBatch
from .organizations import Organization
from .policy import PolicyCategory
from .subjects import Subject


class ReviewQueue(models.TextChoices):
    CRITICAL = "critical", "Critical"
    STANDARD = "standard", "Standard"
    # Reviewed by seniors and admins only.
    ESCALATED = "escalated", "Escalated"


class ItemState(models.TextChoices):
    PENDING = "pending", "Pending"
    CLAIMED = "claimed", "Claimed"
    ESCALATED = "escalated", "Escalated"
    DECIDED = "decided", "Decided"


class FlaggedItem(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="items")
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="items")
    batch = models.ForeignKey(
        InboundBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="items"
    )
    # The upstream API call's id, so a violating item can be traced back to it.
    request_id = models.CharField(max_length=128)
    prompt = models.TextField()
    response = models.TextField(blank=True)
    model = models.CharField(max_length=128, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    flagged_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    priority = models.IntegerField(default=0)
    queue = models.CharField(
        max_length=12, choices=ReviewQueue.choices, default=ReviewQueue.STANDARD
    )
    state = models.CharField(max_length=12, choices=ItemState.choices, default=ItemState.PENDING)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "request_id"], name="item_unique_request_per_org"
            )
        ]
        indexes = [
            # Next item to review in a queue: highest priority, then oldest. Partial, so it
            # stays the size of the backlog, not of the history.
            models.Index(
                "queue",
                models.F("priority").desc(),
                "received_at",
                name="item_pending_queue_idx",
                condition=models.Q(state="pending"),
            ),
            # A subject's history, newest first.
            models.Index("subject", models.F("flagged_at").desc(), name="item_subject_idx"),
        ]

    def __str__(self) -> str:
        return f"item {self.pk} ({self.organization_id}:{self.request_id})"


class Signal(models.Model):
    """One classifier's verdict on an item, as the upstream sent it."""

    item = models.ForeignKey(FlaggedItem, on_delete=models.CASCADE, related_name="signals")
    classifier = models.CharField(max_length=128)
    category = models.ForeignKey(PolicyCategory, on_delete=models.PROTECT, related_name="signals")
    # The label as sent (a slug or an alias), for tuning upstream classifiers.
    label = models.CharField(max_length=64)
    score = models.FloatField()

    class Meta:
        ordering = ["-score"]

    def __str__(self) -> str:
        return f"{self.classifier}: {self.label} {self.score:.2f}"
