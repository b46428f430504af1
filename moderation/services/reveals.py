"""Looking at flagged content: item views and reveals, each on the audit log with its actor.

The page remembers a reveal for the session; the record of who saw what, and why, is here
(and `decision_record` reads it to tell a decision made on seen content from one made on
signals alone).
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from moderation.models import AuditAction, FlaggedItem
from moderation.services.audit import audit_record

MAX_REASON = 500


class RevealInvalid(Exception):
    """A reveal that breaks a rule (no reason given); nothing was recorded."""


def item_viewed(*, item: FlaggedItem, user: User) -> None:
    """Someone opened the item (its text, masked, and its signals)."""
    audit_record(actor=user, action=AuditAction.ITEM_VIEW, item=item)


@transaction.atomic
def content_reveal(*, item: FlaggedItem, user: User) -> None:
    """The user chose "Show content" on an item in a critical category: from now on the text
    is sent to them, and their decision counts as made on seen content."""
    audit_record(
        actor=user,
        action=AuditAction.CONTENT_REVEAL,
        item=item,
        detail={"what": "critical content"},
    )


@transaction.atomic
def pii_reveal(*, item: FlaggedItem, user: User, reason: str) -> None:
    """The user unmasked the personal data in the item, saying why."""
    reason = reason.strip()
    if not reason:
        raise RevealInvalid("Say why you need to see the personal data.")
    audit_record(
        actor=user,
        action=AuditAction.PII_REVEAL,
        item=item,
        detail={"reason": reason[:MAX_REASON]},
    )
