"""The usage policy: categories, their severities and hard limits, and upstream aliases."""

from __future__ import annotations

from datetime import datetime

from django.db import models


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


SEVERITY_WEIGHT = {
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


class PolicyCategory(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    # No organization may be granted an exception to a hard limit (CONTRACT §7).
    hard_limit = models.BooleanField(default=False)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["slug"]
        verbose_name_plural = "policy categories"

    def __str__(self) -> str:
        return self.slug


class CategoryAlias(models.Model):
    """A label an upstream classifier uses for a category (`S3` → `child-safety`)."""

    alias = models.CharField(max_length=64, unique=True)
    category = models.ForeignKey(PolicyCategory, on_delete=models.CASCADE, related_name="aliases")

    class Meta:
        ordering = ["alias"]
        verbose_name_plural = "category aliases"

    def __str__(self) -> str:
        return f"{self.alias} → {self.category.slug}"


class PolicyException(models.Model):
    """A contractual exception: an organization may do what a category otherwise forbids,
    within a scope, for a time (e.g. foreign intelligence analysis for a vetted agency).
    Never for a hard-limit category: refused here, in the service, and by the database."""

    organization = models.ForeignKey(
        "moderation.Organization", on_delete=models.PROTECT, related_name="exceptions"
    )
    category = models.ForeignKey(
        PolicyCategory, on_delete=models.PROTECT, related_name="exceptions"
    )
    scope = models.TextField(help_text="What is allowed, in the contract's words.")
    reference = models.CharField(max_length=200, help_text="The contract's reference.")
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    approved_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_via = models.CharField(max_length=32, default="app")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["organization", "category", "-valid_until"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_until__gt=models.F("valid_from")),
                name="exception_until_after_from",
            )
        ]

    def __str__(self) -> str:
        return f"{self.organization} may {self.category.slug} until {self.valid_until:%Y-%m-%d}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.category_id and self.category.hard_limit:
            raise ValidationError(
                {"category": f"{self.category.name} is a hard limit: no contract waives it."}
            )
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValidationError({"valid_until": "The end must come after the start."})

    def active_at(self, moment: datetime) -> bool:
        return self.revoked_at is None and self.valid_from <= moment < self.valid_until


class PolicySettings(models.Model):
    """Admin-set values of the privacy and exception rules; one row."""

    # Share of items allowed at ingest under an exception that still go to the audit queue.
    audit_sample_rate = models.FloatField(default=0.05)
    # Prompt and response text is erased this many days after the item is decided.
    retention_days = models.PositiveIntegerField(default=90)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name_plural = "policy settings"

    def __str__(self) -> str:
        return "policy settings"

    @classmethod
    def current(cls) -> PolicySettings:
        settings, _ = cls.objects.get_or_create(pk=1)
        return settings
