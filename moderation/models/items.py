"""Flagged items and the classifier signals that flagged them."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
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
    # A sample of the items allowed at ingest under a policy exception, checked by people.
    AUDIT = "audit", "Exception audit"


class ItemState(models.TextChoices):
    """pending → claimed → decided, or pending → claimed → escalated → claimed → decided."""

    PENDING = "pending", "Pending"
    CLAIMED = "claimed", "Claimed"
    # Waiting in the escalated queue for a senior or admin.
    ESCALATED = "escalated", "Escalated"
    DECIDED = "decided", "Decided"
    # Resolved at ingest: every signal fell in a category excepted for the organization.
    ALLOWED = "allowed", "Allowed by exception"
    # Its text was erased at the end user's request before anyone decided it: out of the
    # queues for good.
    ERASED = "erased", "Erased before review"
    # A golden item served to one reviewer and given up undecided (skipped, lease run out,
    # released): it never returns to a queue; the golden item itself may be served again.
    RETIRED = "retired", "Golden item not decided"


# The text search document of an item (PostgreSQL): its prompt, response and every turn's
# content, English stemming. Migration 0016 puts a GIN index on exactly this expression;
# a search must use it verbatim for PostgreSQL to use the index.
SEARCH_DOCUMENT_SQL = (
    "(to_tsvector('english'::regconfig, prompt || ' ' || response) || "
    "jsonb_to_tsvector('english'::regconfig, "
    "jsonb_path_query_array(coalesce(messages, '[]'::jsonb), '$[*].content'), "
    "'[\"string\"]'))"
)

# The states in which an item waits in a queue for someone to claim it.
WAITING_STATES = (ItemState.PENDING, ItemState.ESCALATED)


class FlaggedItem(models.Model):
    # Every index is an entry more for each item ingest writes (docs/performance.md, "The item
    # table's indexes"): the foreign keys below have no index of their own where another one
    # leads with their column (organization: the unique request id; subject: the subject's
    # history), where no query reads by them (batch: set to NULL only if a batch were
    # deleted, which nothing does), or a partial one (claimed_by, gold: most items have none).
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="items", db_index=False
    )
    subject = models.ForeignKey(
        Subject, on_delete=models.PROTECT, related_name="items", db_index=False
    )
    batch = models.ForeignKey(
        InboundBatch,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="items",
        db_index=False,
    )
    # The upstream API call's id, so a violating item can be traced back to it.
    request_id = models.CharField(max_length=128)
    prompt = models.TextField()
    response = models.TextField(blank=True)
    # The conversation, when the upstream sent one (CONTRACT §3 v2): a list of turns
    # {"role": "system"|"user"|"assistant"|"tool", "content": str, "name": str (optional)}.
    # `prompt` then holds the last user turn, for the pages and figures that read one text.
    messages = models.JSONField(null=True, blank=True)
    # Index into `messages` of the turn the classifier flagged.
    flagged_turn = models.PositiveSmallIntegerField(null=True, blank=True)
    model = models.CharField(max_length=128, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    flagged_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    # The strongest signal weighted by its category's severity (services/ingest.py).
    priority = models.IntegerField(default=0)
    # When the item entered its current queue (at ingest, or when escalated): its SLA clock.
    queued_at = models.DateTimeField(default=timezone.now)
    # The claim order: queued_at + the queue's target × (1 − urgency / 2) (services/sla.py).
    due_at = models.DateTimeField(default=timezone.now)
    queue = models.CharField(
        max_length=12, choices=ReviewQueue.choices, default=ReviewQueue.STANDARD
    )
    state = models.CharField(max_length=12, choices=ItemState.choices, default=ItemState.PENDING)
    # The lease of the reviewer who holds the item (state "claimed"); renewed while the page
    # is open, taken back by the workers once it runs out.
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="claimed_items",
        db_index=False,
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    # Set when retention or an erasure request removed the prompt, response and metadata.
    content_erased_at = models.DateTimeField(null=True, blank=True)
    # A golden item served to one reviewer (models/quality.py): never a real user's item.
    gold = models.ForeignKey(
        "moderation.GoldItem",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="served",
        db_index=False,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "request_id"], name="item_unique_request_per_org"
            )
        ]
        indexes = [
            # The next item to claim: earliest due, then the stronger signal. Partial, so it
            # stays the size of the backlog, not of the history; the claim walks it in order.
            models.Index(
                "due_at",
                models.F("priority").desc(),
                name="item_waiting_idx",
                condition=models.Q(state__in=["pending", "escalated"]),
            ),
            # Per-queue counts, oldest age and overdue items on the queue page and dashboard.
            models.Index(
                "queue",
                "queued_at",
                name="item_waiting_queue_idx",
                condition=models.Q(state__in=["pending", "escalated"]),
            ),
            # Leases for the workers to take back.
            models.Index(
                "lease_expires_at",
                name="item_claimed_lease_idx",
                condition=models.Q(state="claimed"),
            ),
            # A reviewer's held item (claimed items only have a holder), and the check that
            # a user being deleted holds none.
            models.Index(
                "claimed_by",
                name="item_claimed_by_idx",
                condition=models.Q(claimed_by__isnull=False),
            ),
            # The golden items' served copies: a handful among millions.
            models.Index("gold", name="item_gold_idx", condition=models.Q(gold__isnull=False)),
            # Retention: decided items whose text is still there, oldest decision first.
            models.Index(
                "decided_at",
                name="item_retention_idx",
                condition=models.Q(content_erased_at__isnull=True, decided_at__isnull=False),
            ),
            # A subject's history, newest first.
            models.Index("subject", models.F("flagged_at").desc(), name="item_subject_idx"),
            # Search (newest first, by keyset) and intake per hour on the dashboard.
            models.Index(
                models.F("received_at").desc(), models.F("id").desc(), name="item_received_idx"
            ),
            # Search by request id across organizations.
            models.Index("request_id", name="item_request_idx"),
        ]

    def __str__(self) -> str:
        return f"item {self.pk} ({self.organization_id}:{self.request_id})"

    def held_since(self, user_id: int | None, now: datetime) -> datetime:
        """When `user_id`'s claim on the item began, or `now` when they do not hold it (a
        senior deciding an escalated item straight from its page): a decision's claimed_at."""
        mine = self.state == ItemState.CLAIMED and self.claimed_by_id == user_id
        return self.claimed_at if mine and self.claimed_at else now

    def release_to(self, state: str, **fields: object) -> None:
        """Move the item to `state`, held by nobody, with `fields` (its queue, decided_at)
        set too: one UPDATE of just those columns. The caller holds the row's lock."""
        self.state = state
        for name, value in fields.items():
            setattr(self, name, value)
        self.claimed_by = None
        self.claimed_at = None
        self.lease_expires_at = None
        self.save(update_fields=["state", *fields, "claimed_by", "claimed_at", "lease_expires_at"])


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
