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


class VoidReason(models.TextChoices):
    # The deciding reviewer took it back within the undo window.
    UNDONE = "undone", "Undone"
    # A senior or admin replaced it with a new decision.
    OVERTURNED = "overturned", "Overturned"
    # A senior's adjudication of a disagreement in a blind second review replaced it.
    ADJUDICATED = "adjudicated", "Replaced by an adjudication"


class DecisionQuerySet(models.QuerySet["Decision"]):
    def standing(self) -> DecisionQuerySet:
        """Decisions neither undone nor overturned: the record that counts."""
        return self.filter(voided_at__isnull=True)

    def final(self) -> DecisionQuerySet:
        """The standing final decisions (violation or not): the only ones that count for
        figures, thresholds, reports and training data (CONTRACT §6 v2)."""
        return self.filter(voided_at__isnull=True, verdict__in=FINAL_VERDICTS)

    def counted(self) -> DecisionQuerySet:
        """The final decisions that count for a subject's figures, thresholds, actions and the
        training data (CONTRACT §6 v2): not those on golden items, which are scored, never
        counted; not those whose blind second review still waits for its answer or disagreed
        (models/quality.py `SecondReview`; until a senior adjudicates)."""
        return (
            self.final()
            .filter(item__gold__isnull=True)
            .exclude(second_review__state__in=["pending", "disagreed"])
        )


class Decision(models.Model):
    """What one reviewer decided about one item. An escalation is a decision too; only one
    standing final decision (violation or not) can exist per item. A decision is never
    deleted or edited: an undo or an overturn voids it, and it stays on record as such."""

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
    # The queue the item was in when decided, so an undone escalation goes back there.
    from_queue = models.CharField(max_length=12, blank=True)
    # False when the item's content was hidden (critical) and the decider never chose
    # "Show content": allowed (signals may suffice), but on record.
    content_seen = models.BooleanField(default=True)
    # Set when the decision stops counting: undone by its reviewer or overturned.
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    void_reason = models.CharField(max_length=12, choices=VoidReason.choices, blank=True)
    # The overturning decision that replaced this one.
    replaced_by = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaces"
    )

    objects = DecisionQuerySet.as_manager()

    class Meta:
        ordering = ["decided_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["item"],
                condition=models.Q(
                    verdict__in=["violation", "no_violation"], voided_at__isnull=True
                ),
                name="decision_one_final_per_item",
            ),
            models.CheckConstraint(
                condition=models.Q(voided_at__isnull=True, void_reason="")
                | models.Q(voided_at__isnull=False) & ~models.Q(void_reason=""),
                name="decision_void_has_reason",
            ),
        ]
        indexes = [
            models.Index("reviewer", models.F("decided_at").desc(), name="decision_reviewer_idx"),
            # Decisions per hour and time to decision on the operations dashboard.
            models.Index("decided_at", name="decision_decided_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.verdict} on item {self.item_id} by {self.reviewer_id}"

    @property
    def is_final(self) -> bool:
        return self.verdict in FINAL_VERDICTS

    @property
    def is_standing(self) -> bool:
        return self.voided_at is None
