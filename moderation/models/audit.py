"""The audit log: an append-only record of who saw and did what.

Rows are only ever inserted (services/audit.py); on PostgreSQL triggers refuse UPDATE,
DELETE and TRUNCATE, so not even a bug or a shell session can rewrite history, and the
app's database role of docs/deploy.md may only SELECT and INSERT it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditAction(models.TextChoices):
    ITEM_VIEW = "item.view", "Viewed item"
    ITEM_CLAIM = "item.claim", "Claimed item"
    ITEM_SKIP = "item.skip", "Skipped item"
    ITEM_LEASE_EXPIRED = "item.lease_expired", "Lease expired"
    ITEM_DECIDE = "item.decide", "Decided item"
    ITEM_ESCALATE = "item.escalate", "Escalated item"
    ITEM_UNDO = "item.undo", "Undid decision"
    ITEM_OVERTURN = "item.overturn", "Overturned decision"
    # An item given back to its queue other than by a skip (an undo, a senior's release).
    ITEM_RELEASE = "item.release", "Released item"
    CONTENT_REVEAL = "content.reveal", "Revealed content"
    SUBJECT_VIEW = "subject.view", "Viewed subject"
    ROLE_CHANGE = "role.change", "Changed role"
    ENFORCEMENT_TAKEN = "enforcement.taken", "Took enforcement action"
    ENFORCEMENT_PROPOSED = "enforcement.proposed", "Proposed removal"
    ENFORCEMENT_REJECTED = "enforcement.rejected", "Rejected removal"
    ENFORCEMENT_WITHDRAWN = "enforcement.withdrawn", "Withdrew removal proposal"
    DELIVERY_REDELIVER = "delivery.redeliver", "Redelivered webhook"
    ENDPOINT_CHANGE = "endpoint.change", "Changed enforcement endpoint"
    THRESHOLDS_CHANGE = "thresholds.change", "Changed thresholds"
    APPEAL_RECEIVED = "appeal.received", "Received appeal"
    APPEAL_DECIDE = "appeal.decide", "Decided appeal"
    EXCEPTION_GRANT = "exception.grant", "Granted policy exception"
    EXCEPTION_REVOKE = "exception.revoke", "Revoked policy exception"
    PII_REVEAL = "pii.reveal", "Revealed personal data"
    SUBJECT_EXPORT = "subject.export", "Exported user data"
    SUBJECT_ERASE = "subject.erase", "Erased user data"
    TRAINING_EXPORT = "training.export", "Exported training data"
    POLICY_SETTINGS = "policy.settings", "Changed policy settings"
    TWO_FACTOR_SETUP = "2fa.setup", "Set up two-factor authentication"
    TWO_FACTOR_RESET = "2fa.reset", "Reset two-factor authentication"
    RECOVERY_CODES_NEW = "2fa.recovery_codes", "Made new recovery codes"
    SECRETS_REENCRYPT = "secrets.reencrypt", "Re-encrypted stored secrets"
    GOLD_IMPORT = "gold.import", "Loaded golden items"
    GOLD_MARK = "gold.mark", "Marked item as golden"
    QUALITY_SETTINGS = "quality.settings", "Changed quality settings"
    ITEM_ADJUDICATE = "item.adjudicate", "Adjudicated disagreement"
    SLA_TARGETS = "sla.targets", "Changed SLA targets"


class AuditEvent(models.Model):
    at = models.DateTimeField(default=timezone.now, db_index=True)
    # None for the system itself (workers, thresholds).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
    )
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    item = models.ForeignKey(
        "moderation.FlaggedItem", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    subject = models.ForeignKey(
        "moderation.Subject", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Who or what the action was about when it is not an item or subject (a user's role).
    target = models.CharField(max_length=200, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index("actor", models.F("at").desc(), name="audit_actor_idx"),
            models.Index("action", models.F("at").desc(), name="audit_action_idx"),
            models.Index("item", name="audit_item_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_id} {self.action}"
