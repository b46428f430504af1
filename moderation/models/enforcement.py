"""Thresholds, enforcement actions on users, their webhook deliveries, and appeals."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce
from django.utils import timezone

from .organizations import Organization
from .subjects import Subject


class Thresholds(models.Model):
    """The rules that turn a user's figures into actions (CONTRACT §6).

    The row without an organization is the global default; an organization's own row, when
    there is one, replaces it for that organization.
    """

    organization = models.OneToOneField(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="thresholds"
    )
    window_days = models.PositiveSmallIntegerField(default=30)
    warn_violations = models.PositiveIntegerField(default=1)
    restrict_violations = models.PositiveIntegerField(default=3)
    restrict_rate = models.FloatField(default=0.5)
    remove_violations = models.PositiveIntegerField(default=5)
    remove_rate = models.FloatField(default=0.8)
    # One violation in a category of severity `critical` proposes removal at once.
    remove_on_critical = models.BooleanField(default=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    RULE_FIELDS = (
        "window_days",
        "warn_violations",
        "restrict_violations",
        "restrict_rate",
        "remove_violations",
        "remove_rate",
        "remove_on_critical",
    )

    class Meta:
        verbose_name_plural = "thresholds"
        constraints = [
            # One global row (no organization): NULLs are distinct in a plain unique index.
            models.UniqueConstraint(
                Coalesce("organization", models.Value(0)), name="thresholds_one_per_scope"
            )
        ]

    def __str__(self) -> str:
        return f"thresholds for {self.organization or 'everyone'}"

    def rules(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.RULE_FIELDS}


class ThresholdChange(models.Model):
    """History of threshold edits: who changed what, when; never rewritten."""

    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now)
    before = models.JSONField()
    after = models.JSONField()
    # How many users changed status when the new values were applied.
    subjects_changed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"thresholds change {self.pk}"


class ActionKind(models.TextChoices):
    WARN = "warn", "Warn"
    RESTRICT = "restrict", "Restrict"
    REMOVE = "remove", "Remove"
    REINSTATE = "reinstate", "Reinstate"


class ActionState(models.TextChoices):
    # A removal waiting on a senior or admin.
    PROPOSED = "proposed", "Proposed"
    TAKEN = "taken", "Taken"
    REJECTED = "rejected", "Rejected"
    # A proposal whose basis went away (its decisions undone or overturned) before anyone
    # decided it.
    WITHDRAWN = "withdrawn", "Withdrawn"


class EnforcementAction(models.Model):
    """One action on one user, with who or what decided it and why."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="actions")
    kind = models.CharField(max_length=10, choices=ActionKind.choices)
    state = models.CharField(max_length=10, choices=ActionState.choices)
    # "threshold" for automatic actions, "appeal" for an upheld appeal, "correction" for a
    # reinstatement after an undone or overturned decision, else "reviewer".
    decided_by = models.CharField(max_length=16)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField()
    review_note = models.TextField(blank=True)
    categories = models.JSONField(default=list, blank=True)
    violations = models.PositiveIntegerField()
    reviewed = models.PositiveIntegerField()
    violation_rate = models.FloatField()
    created_at = models.DateTimeField(default=timezone.now)
    effective_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # The counted violation decisions an automatic action or proposal rested on: linked
    # from the proposal, and none of their reviewers may approve it (four eyes).
    basis = models.ManyToManyField(
        "moderation.Decision", blank=True, related_name="enforcement_actions"
    )
    # The status a correction leaves the user in (a reinstate after an undone or overturned
    # decision may step a restriction down to a warning rather than to active).
    status_after = models.CharField(max_length=12, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index("subject", models.F("created_at").desc(), name="action_subject_idx"),
            models.Index(
                "created_at", name="action_proposed_idx", condition=models.Q(state="proposed")
            ),
        ]
        constraints = [
            # At most one removal waits for approval per user.
            models.UniqueConstraint(
                fields=["subject"],
                condition=models.Q(state="proposed"),
                name="action_one_proposal_per_subject",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.state} on {self.subject_id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    # Every attempt failed; an admin may still redeliver.
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    """The enforcement webhook message for one taken action (CONTRACT §5)."""

    action = models.OneToOneField(
        EnforcementAction, on_delete=models.PROTECT, related_name="delivery"
    )
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    # Stable across retries, so the platform can drop a second copy (Standard Webhooks).
    webhook_id = models.CharField(max_length=64, unique=True)
    url = models.URLField(max_length=2000)
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(
                "next_attempt_at", name="delivery_due_idx", condition=models.Q(status="pending")
            ),
            # Delivery success and time to action on the operations dashboard.
            models.Index("created_at", name="delivery_created_idx"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.webhook_id} ({self.status})"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # An admin's "Redeliver", rather than the schedule.
    manual = models.BooleanField(default=False)

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class AppealState(models.TextChoices):
    OPEN = "open", "Open"
    UPHELD = "upheld", "Upheld"
    DENIED = "denied", "Denied"


class Appeal(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    action = models.ForeignKey(EnforcementAction, on_delete=models.PROTECT, related_name="appeals")
    message = models.TextField()
    state = models.CharField(max_length=8, choices=AppealState.choices, default=AppealState.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    # The signed message that opened it: a replay of the same `webhook-id` from the same key
    # answers with this appeal, never a second one (CONTRACT §4b v2).
    api_key = models.ForeignKey(
        "moderation.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    webhook_id = models.CharField(max_length=256, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["api_key", "webhook_id"],
                condition=~models.Q(webhook_id=""),
                name="appeal_unique_webhook_id",
            ),
            models.UniqueConstraint(
                fields=["action"],
                condition=models.Q(state="open"),
                name="appeal_one_open_per_action",
            ),
        ]

    def __str__(self) -> str:
        return f"appeal {self.pk} of {self.action_id} ({self.state})"
