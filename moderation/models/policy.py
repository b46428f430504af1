"""The usage policy: categories, their severities and hard limits, and upstream aliases."""

from __future__ import annotations

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
