"""Reviewers' decisions on flagged items."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from .items import FlaggedItem
from .policy import PolicyCategory


class Verdict(models.TextChoices):
    VIOLATION = "violation", "Violation"
    NO_VIOLATION = "no_violation", "No violation"
    ESCALATE = "escalate", "Escalate"


FINAL_VERDICTS = (Verdict.VIOLATION, Verdict.NO_VIOLATION)


class Decision(models.Model):
    """What one reviewer decided about one item. An escalation is a decision too; only one
    final decision (violation or not) can ever exist per item."""

    item = models.ForeignKey(FlaggedItem, on_delete=models.CASCADE, related_name="decisions")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="decisions"
    )
    verdict = models.CharField(max_length=14, choices=Verdict.choices)
    categories = models.ManyToManyField(PolicyCategory, blank=True, related_name="decisions")
    note = models.TextField(blank=True)
    claimed_at = models.DateTimeField()
    decided_at = models.DateTimeField(default=timezone.now)
    seconds_spent = models.PositiveIntegerField(default=0)
    # A violation whose every category is excepted for the organization: recorded, not counted.
    allowed_by = models.ForeignKey(
        "moderation.PolicyException",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="decisions",
    )

    class Meta:
        ordering = ["decided_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["item"],
                condition=models.Q(verdict__in=["violation", "no_violation"]),
                name="decision_one_final_per_item",
            )
        ]
        indexes = [
            models.Index("reviewer", models.F("decided_at").desc(), name="decision_reviewer_idx")
        ]

    def __str__(self) -> str:
        return f"{self.verdict} on item {self.item_id} by {self.reviewer_id}"

    @property
    def is_final(self) -> bool:
        return self.verdict in FINAL_VERDICTS
