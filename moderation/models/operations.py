"""Running a review operation (issue 11, CONTRACT §8 v2): service-level targets per queue,
the queue samples the operations dashboard draws, saved searches, and the alerts sent.

The claim order comes from the targets: an item is due at
`queued_at + target × (1 − urgency / 2)` (services/sla.py), so a strong signal halves the
time it may wait and nothing waits past its own target behind a stream of newer items.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from .items import ReviewQueue

# The defaults an operation starts from (issue 11): minutes per queue.
DEFAULT_TARGET_MINUTES = {
    ReviewQueue.CRITICAL: 60,
    ReviewQueue.ESCALATED: 4 * 60,
    ReviewQueue.STANDARD: 24 * 60,
    ReviewQueue.AUDIT: 72 * 60,
}


class QueueTarget(models.Model):
    """The service-level target of one queue: time from entering it to a decision."""

    queue = models.CharField(max_length=12, choices=ReviewQueue.choices, primary_key=True)
    # One minute to thirty days.
    target_minutes = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(30 * 24 * 60)]
    )
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.queue}: {self.target_minutes} min"

    @property
    def target(self) -> timedelta:
        return timedelta(minutes=self.target_minutes)


class QueueSample(models.Model):
    """One queue's depth and oldest waiting age, taken by the workers once a minute."""

    # Truncated to the minute: one sample per queue per minute, however many workers run.
    taken_at = models.DateTimeField()
    queue = models.CharField(max_length=12, choices=ReviewQueue.choices)
    depth = models.PositiveIntegerField()
    # Seconds the oldest waiting item has been in the queue; null when the queue is empty.
    oldest_age_seconds = models.PositiveIntegerField(null=True, blank=True)
    # Waiting items past their queue's target at that minute.
    overdue = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["queue", "taken_at"], name="queue_sample_unique_minute")
        ]
        indexes = [models.Index("taken_at", name="queue_sample_taken_idx")]

    def __str__(self) -> str:
        return f"{self.queue} at {self.taken_at:%Y-%m-%d %H:%M}: {self.depth}"


class SavedFilter(models.Model):
    """A search on /items/ a user named and kept, private to them."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_filters"
    )
    name = models.CharField(max_length=80)
    # The search's query string, without the page cursor.
    query = models.CharField(max_length=2000)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="saved_filter_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.name}"


class AlertKind(models.TextChoices):
    SLA_BREACH = "sla_breach", "SLA breach"
    DELIVERY_FAILED = "delivery_failed", "Delivery failed"


class AlertSent(models.Model):
    """An alert posted to MODQUEUE_ALERT_URL, kept so each breach or failure alerts once."""

    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    # What it is about: a queue and the minute of the breach, a delivery id.
    key = models.CharField(max_length=128)
    sent_at = models.DateTimeField(default=timezone.now)
    # Set once the incoming webhook answered 2xx; attempts are retried until then.
    delivered_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    text = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="alert_unique_subject")]
        indexes = [
            models.Index(
                "sent_at", name="alert_undelivered_idx", condition=models.Q(delivered_at=None)
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"


class OperationsSnapshot(models.Model):
    """The operations dashboard's figures for one period as last computed
    (services/operations_snapshot.py): the workers' sweep refreshes each period on its own
    schedule, and the page serves the snapshot rather than aggregating a million decisions on
    every load. One row per period."""

    period = models.CharField(max_length=4, primary_key=True)
    # The `now` the figures were computed for; null until the first refresh.
    computed_at = models.DateTimeField(null=True, blank=True)
    # services.operations.Operations as JSON (operations_snapshot.figures_dump); null until
    # the first refresh.
    figures = models.JSONField(null=True, blank=True)
    # A worker claimed the refresh until then (a conditional UPDATE): another worker leaves
    # the period alone meanwhile, and a worker that died mid-refresh holds it no longer.
    refreshing_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.period} at {self.computed_at}"
