"""Decision quality (issue 10, CONTRACT §2, §6 and §8 v2): golden items with a known answer,
the shares of claims and decisions that quality assurance takes, and blind second reviews.

A golden item is kept once, as a `GoldItem` (its text, signals and expected answer). Each time
a claim serves it to a reviewer, a `FlaggedItem` is made for that one serving, pointing at it
(`FlaggedItem.gold`), so it looks and behaves exactly like a real item: same page, same keys,
same lease, same undo. Those items belong to the organization's reserved gold subject
(`GOLD_SUBJECT_HASH`), which is not a user: it never reaches a subject page, the look-up API,
figures, thresholds or deliveries, and its decisions are scored against the answer instead.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from .decisions import Decision, Verdict
from .items import FlaggedItem
from .organizations import Organization
from .policy import PolicyCategory

# The user id hash of each organization's reserved subject that golden items are served under.
# Not 64 hex digits, so no user id ever hashes to it and no look-up by hash can name it.
GOLD_SUBJECT_HASH = "gold"

_PERCENT = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))]


class QualitySettings(models.Model):
    """One row (pk 1): `set_quality` and /settings/quality/ change it."""

    # Share of claims served from golden items instead of the next real item.
    gold_percent = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("2"), validators=_PERCENT
    )
    # Share of final decisions sent to a blind second review.
    second_review_percent = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("5"), validators=_PERCENT
    )
    # Every decision that would propose a removal goes to a second review.
    second_review_all_removals = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return f"gold {self.gold_percent}%, second review {self.second_review_percent}%"

    @classmethod
    def current(cls) -> QualitySettings:
        """The row, read once per process until it changes (services/config_cache.py)."""
        from moderation.services import config_cache

        return config_cache.cached("quality", lambda: cls.objects.get_or_create(pk=1)[0])


class GoldSet(models.Model):
    """Golden items loaded together (one `import_gold` file, or items marked from their page)."""

    name = models.CharField(max_length=100, unique=True)
    # After a wrong decision on one of its items, the reviewer sees the expected answer and note.
    feedback = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return self.name


class GoldItem(models.Model):
    """An item with a known answer."""

    gold_set = models.ForeignKey(GoldSet, on_delete=models.PROTECT, related_name="items")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    prompt = models.TextField()
    response = models.TextField(blank=True)
    model = models.CharField(max_length=128, blank=True)
    # As CONTRACT §3 gives them: [{"classifier", "category", "label", "score"}, ...].
    signals = models.JSONField(default=list, blank=True)
    expected_verdict = models.CharField(
        max_length=14,
        choices=[(Verdict.VIOLATION, "Violation"), (Verdict.NO_VIOLATION, "No violation")],
    )
    expected_categories = models.ManyToManyField(PolicyCategory, blank=True, related_name="+")
    note = models.TextField(blank=True)
    # The decided real item it was marked from, if any (its record is never changed).
    source_item = models.ForeignKey(
        FlaggedItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="gold_copies"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expected_verdict__in=["violation", "no_violation"]),
                name="gold_expected_verdict_final",
            )
        ]

    def __str__(self) -> str:
        return f"gold #{self.pk} ({self.expected_verdict})"


class SecondReviewState(models.TextChoices):
    PENDING = "pending", "Waiting for a second reviewer"
    AGREED = "agreed", "Agreed"
    DISAGREED = "disagreed", "Disagreement"
    ADJUDICATED = "adjudicated", "Adjudicated"


class SecondReview(models.Model):
    """A blind second review of one final decision. The second reviewer's answer is kept here,
    not as a `Decision`: the first decision stays the item's one standing final decision, and
    counts only once the two agree; a disagreement goes to a senior, whose decision
    (`adjudication`) is final."""

    item = models.ForeignKey(FlaggedItem, on_delete=models.CASCADE, related_name="second_reviews")
    first_decision = models.OneToOneField(
        Decision, on_delete=models.PROTECT, related_name="second_review"
    )
    state = models.CharField(
        max_length=12, choices=SecondReviewState.choices, default=SecondReviewState.PENDING
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="second_reviews",
    )
    verdict = models.CharField(
        max_length=14,
        blank=True,
        choices=[(Verdict.VIOLATION, "Violation"), (Verdict.NO_VIOLATION, "No violation")],
    )
    categories = models.ManyToManyField(PolicyCategory, blank=True, related_name="+")
    note = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    seconds_spent = models.PositiveIntegerField(default=0)
    adjudication = models.OneToOneField(
        Decision, null=True, blank=True, on_delete=models.PROTECT, related_name="adjudicates"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(
                "created_at",
                name="second_review_pending_idx",
                condition=models.Q(state="pending"),
            ),
            models.Index("reviewer", models.F("decided_at").desc(), name="second_review_by_idx"),
        ]

    def __str__(self) -> str:
        return f"second review of item #{self.item_id} ({self.state})"
