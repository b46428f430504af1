"""Subjects: the end users behind flagged items, known only by a keyed hash."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from .organizations import Organization


class SubjectStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    WARNED = "warned", "Warned"
    RESTRICTED = "restricted", "Restricted"
    REMOVED = "removed", "Removed"


class Subject(models.Model):
    """The materialised status row of one end user of one organization."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="subjects"
    )
    # HMAC-SHA256 under the pepper over "{organization}:{user_id}"; the raw id is never stored.
    user_id_hash = models.CharField(max_length=64)
    status = models.CharField(
        max_length=12, choices=SubjectStatus.choices, default=SubjectStatus.ACTIVE
    )
    # Over the rolling window (CONTRACT §6), kept current by services/rates.py.
    violations = models.PositiveIntegerField(default=0)
    reviewed = models.PositiveIntegerField(default=0)
    # When the oldest decision counted leaves the window: the periodic roll-forward recounts
    # the subjects whose moment has come, and only those.
    window_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(
                "window_expires_at",
                name="subject_window_idx",
                condition=models.Q(window_expires_at__isnull=False),
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user_id_hash"], name="subject_unique_per_org"
            )
        ]

    def __str__(self) -> str:
        return f"{self.organization.slug}/{self.user_id_hash[:12]}"

    @property
    def violation_rate(self) -> float:
        return self.violations / self.reviewed if self.reviewed else 0.0
