"""The rights of the people behind the hashes: a copy of everything held, or its erasure."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from moderation.models import (
    GOLD_SUBJECT_HASH,
    Appeal,
    AuditAction,
    BatchStatus,
    Decision,
    FlaggedItem,
    InboundBatch,
    ItemState,
    Organization,
    Subject,
)
from moderation.services.audit import audit_record
from moderation.services.retention import content_erase_items
from moderation.services.subjects import subject_hash


def subject_resolve(
    *, organization: Organization, user_id: str | None = None, user_id_hash: str | None = None
) -> Subject | None:
    """The subject by raw user id (hashed here and now, never stored) or by its hash."""
    if user_id is not None:
        user_id_hash = subject_hash(organization_slug=organization.slug, user_id=user_id)
    if user_id_hash == GOLD_SUBJECT_HASH:
        return None  # the reserved subject of golden items is nobody's
    return Subject.objects.filter(organization=organization, user_id_hash=user_id_hash).first()


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment else None


def subject_export(*, subject: Subject, actor: User | None, via: str) -> dict[str, Any]:
    """Everything held about the subject, as one JSON-ready object; the export is audited."""
    items = (
        subject.items.select_related("organization")
        .prefetch_related("signals__category", "decisions__categories", "decisions__reviewer")
        .order_by("flagged_at", "pk")
    )
    actions = subject.actions.prefetch_related("appeals").select_related("delivery")
    document: dict[str, Any] = {
        "organization": subject.organization.slug,
        "user_id_hash": subject.user_id_hash,
        "status": subject.status,
        "violations": subject.violations,
        "reviewed": subject.reviewed,
        "violation_rate": subject.violation_rate,
        "first_seen": _iso(subject.created_at),
        "updated_at": _iso(subject.updated_at),
        "items": [
            {
                "request_id": item.request_id,
                "flagged_at": _iso(item.flagged_at),
                "received_at": _iso(item.received_at),
                "model": item.model,
                "prompt": item.prompt,
                "response": item.response,
                "metadata": item.metadata,
                "messages": item.messages,
                "flagged_turn": item.flagged_turn,
                "content_erased_at": _iso(item.content_erased_at),
                "state": item.state,
                "signals": [
                    {"classifier": s.classifier, "category": s.category.slug, "score": s.score}
                    for s in item.signals.all()
                ],
                "decisions": [
                    {
                        "verdict": d.verdict,
                        "categories": sorted(c.slug for c in d.categories.all()),
                        "note": d.note,
                        "decided_at": _iso(d.decided_at),
                        "allowed_by_exception": d.allowed_by_id is not None,
                    }
                    for d in item.decisions.all()
                ],
            }
            for item in items
        ],
        "actions": [
            {
                "action_id": str(a.pk),
                "action": a.kind,
                "state": a.state,
                "decided_by": a.decided_by,
                "reason": a.reason,
                "categories": a.categories,
                "created_at": _iso(a.created_at),
                "effective_at": _iso(a.effective_at),
                "appeals": [
                    {
                        "appeal_id": str(p.pk),
                        "message": p.message,
                        "state": p.state,
                        "reason": p.reason,
                        "created_at": _iso(p.created_at),
                    }
                    for p in a.appeals.all()
                ],
            }
            for a in actions
        ],
    }
    audit_record(
        actor=actor,
        action=AuditAction.SUBJECT_EXPORT,
        subject=subject,
        detail={"via": via, "items": len(document["items"])},
    )
    return document


@transaction.atomic
def subject_erase(*, subject: Subject, actor: User | None, via: str) -> dict[str, int]:
    """Erase the subject's words: prompts, responses, conversations, metadata, reviewers'
    notes on them, and appeal messages; pending (and failed) batches not yet turned into
    items lose the text too. Counts, decisions, categories and actions stay, anonymous
    behind the hash.

    Items nobody has decided yet (pending, claimed, escalated) leave the queues for good:
    with no words left there is nothing to judge, and a verdict on nothing would count
    against the user. A reviewer's claim on one ends with it.
    """
    now = timezone.now()
    # Locked, so a claim or a decision racing the erasure waits and then finds it erased.
    unreviewed = list(
        FlaggedItem.objects.select_for_update()
        .filter(
            subject=subject,
            state__in=[ItemState.PENDING, ItemState.CLAIMED, ItemState.ESCALATED],
        )
        .values_list("pk", flat=True)
    )
    FlaggedItem.objects.filter(pk__in=unreviewed).update(
        state=ItemState.ERASED, claimed_by=None, claimed_at=None, lease_expires_at=None
    )
    item_ids = list(subject.items.values_list("pk", flat=True))
    erased = content_erase_items(item_ids, now=now)
    notes = Decision.objects.filter(item_id__in=item_ids).exclude(note="").update(note="")
    appeals = Appeal.objects.filter(action__subject=subject).exclude(message="").update(message="")
    pending = 0
    # A failed batch keeps its payload for an admin to look at: it holds the words too.
    for batch in InboundBatch.objects.select_for_update().filter(
        status__in=[BatchStatus.PENDING, BatchStatus.FAILED], payload__isnull=False
    ):
        changed = False
        for entry in batch.payload or []:
            if (
                entry.get("organization") == subject.organization.slug
                and entry.get("user_id_hash") == subject.user_id_hash
                and not entry.get("erased")
            ):
                entry.update(prompt="", response="", metadata={}, messages=None, erased=True)
                changed = True
                pending += 1
        if changed:
            batch.save(update_fields=["payload"])
    counts = {
        "items": erased,
        "unreviewed": len(unreviewed),
        "notes": notes,
        "appeals": appeals,
        "pending_items": pending,
    }
    audit_record(
        actor=actor,
        action=AuditAction.SUBJECT_ERASE,
        subject=subject,
        detail={"via": via, **counts},
    )
    return counts
