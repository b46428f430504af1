"""Writing the audit log: every view, claim, decision, reveal and role change, with its actor."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from moderation.models import AuditAction, AuditEvent, FlaggedItem, Subject


def audit_record(
    *,
    actor: User | None,
    action: AuditAction,
    item: FlaggedItem | None = None,
    subject: Subject | None = None,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event. Call it inside the transaction of the action it records."""
    subject_id: int | None
    if subject is not None:
        subject_id = subject.pk
    else:
        subject_id = item.subject_id if item is not None else None
    return AuditEvent.objects.create(
        actor=actor,
        action=action,
        item=item,
        subject_id=subject_id,
        target=target,
        detail=detail or {},
    )


def audit_subject_view(*, subject: Subject, viewer: User) -> AuditEvent:
    """Someone opened a user's record (their history holds flagged content)."""
    return audit_record(actor=viewer, action=AuditAction.SUBJECT_VIEW, subject=subject)


def audit_training_export(*, actor: User | None, via: str, rows: int | None = None) -> AuditEvent:
    """Reviewed items left as training data (masked text, no one's identity)."""
    detail: dict[str, Any] = {"via": via}
    if rows is not None:
        detail["rows"] = rows
    return audit_record(
        actor=actor, action=AuditAction.TRAINING_EXPORT, target="training export", detail=detail
    )
