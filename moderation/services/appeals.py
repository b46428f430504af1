"""Appeals (CONTRACT §4b): a user contests an action; a senior or admin who had no part in
it decides; upheld reinstates the user."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.roles import Role, user_has_role
from moderation.models import (
    ActionKind,
    ActionState,
    ApiKey,
    Appeal,
    AppealState,
    AuditAction,
    EnforcementAction,
    Organization,
    SubjectStatus,
)
from moderation.services.audit import audit_record
from moderation.services.enforcement import EnforcementRefused, action_by_hand

MAX_MESSAGE = 5000


class AppealNotFound(Exception):
    pass


class AppealOpen(Exception):
    pass


def appeal_create(
    *,
    organization: Organization,
    user_id_hash: str,
    action_id: str,
    message: str,
    api_key: ApiKey | None = None,
    webhook_id: str = "",
) -> Appeal:
    """Record an appeal of a taken action of this organization's user; `api_key` and
    `webhook_id` name the signed message that brought it (see appeal_receive)."""
    try:
        action_uuid = uuid.UUID(action_id)
    except ValueError as exc:
        raise AppealNotFound from exc
    action = (
        EnforcementAction.objects.select_related("subject")
        .filter(
            pk=action_uuid,
            subject__organization=organization,
            subject__user_id_hash=user_id_hash,
            state=ActionState.TAKEN,
        )
        .exclude(kind=ActionKind.REINSTATE)
        .first()
    )
    if action is None:
        raise AppealNotFound
    try:
        with transaction.atomic():
            appeal = Appeal.objects.create(
                action=action, message=message, api_key=api_key, webhook_id=webhook_id
            )
            audit_record(
                actor=None,
                action=AuditAction.APPEAL_RECEIVED,
                subject=action.subject,
                detail={"appeal": str(appeal.pk), "action": str(action.pk)},
            )
    except IntegrityError as exc:
        raise AppealOpen from exc
    return appeal


def _appeal_delivered(*, api_key: ApiKey, webhook_id: str) -> Appeal | None:
    if not webhook_id:
        return None
    return Appeal.objects.filter(api_key=api_key, webhook_id=webhook_id).first()


def appeal_receive(
    *,
    api_key: ApiKey,
    webhook_id: str,
    organization: Organization,
    user_id_hash: str,
    action_id: str,
    message: str,
) -> tuple[Appeal, bool]:
    """A signed appeal (CONTRACT §4b): the appeal and True when this message opened it; the
    appeal it opened before and False when the key already delivered this `webhook-id`
    (v2), whatever became of that appeal since, never a second appeal nor AppealOpen. Two
    deliveries at once are kept to one appeal by the unique (api_key, webhook_id)."""
    first = _appeal_delivered(api_key=api_key, webhook_id=webhook_id)
    if first is not None:
        return first, False
    try:
        appeal = appeal_create(
            organization=organization,
            user_id_hash=user_id_hash,
            action_id=action_id,
            message=message,
            api_key=api_key,
            webhook_id=webhook_id,
        )
    except AppealOpen:
        # A concurrent delivery of the same message won the race: answer with its appeal.
        first = _appeal_delivered(api_key=api_key, webhook_id=webhook_id)
        if first is None:
            raise
        return first, False
    return appeal, True


class RevealRefused(ValueError):
    """Personal data is shown only for a stated reason; nothing was logged."""


def appeal_reveal_pii(*, appeal: Appeal, user: User, reason: str) -> None:
    """Log that a senior or admin unmasks the personal data in an appeal message, and why;
    the same rule as for an item's text."""
    if not user_has_role(user, Role.SENIOR):
        raise RevealRefused("Appeals are for seniors and admins.")
    if not reason.strip():
        raise RevealRefused("Say why you need to see the personal data.")
    audit_record(
        actor=user,
        action=AuditAction.PII_REVEAL,
        subject=appeal.action.subject,
        target=f"appeal {appeal.pk}",
        detail={"appeal": str(appeal.pk), "reason": reason.strip()[:500]},
    )


def appeal_may_decide(appeal: Appeal, user: User) -> bool:
    """A senior or admin who neither took nor approved the action."""
    action = appeal.action
    return (
        user_has_role(user, Role.SENIOR)
        and action.actor_id != user.pk
        and action.approved_by_id != user.pk
    )


@transaction.atomic
def appeal_decide(*, appeal: Appeal, user: User, upheld: bool, reason: str) -> Appeal:
    locked = Appeal.objects.select_for_update().select_related("action__subject").get(pk=appeal.pk)
    if locked.state != AppealState.OPEN:
        raise EnforcementRefused("This appeal has already been decided.")
    if not appeal_may_decide(locked, user):
        raise EnforcementRefused(
            "Appeals are decided by a senior or admin who neither took nor approved the action."
        )
    if not upheld and not reason.strip():
        raise EnforcementRefused("Give the reason the appeal is denied.")
    locked.state = AppealState.UPHELD if upheld else AppealState.DENIED
    locked.decided_by = user
    locked.decided_at = timezone.now()
    locked.reason = reason.strip()
    locked.save(update_fields=["state", "decided_by", "decided_at", "reason"])
    audit_record(
        actor=user,
        action=AuditAction.APPEAL_DECIDE,
        subject=locked.action.subject,
        detail={"appeal": str(locked.pk), "state": locked.state},
    )
    subject = locked.action.subject
    if upheld and subject.status != SubjectStatus.ACTIVE:
        action_by_hand(
            subject=subject,
            kind=ActionKind.REINSTATE,
            user=user,
            reason=f"Appeal upheld: {reason.strip() or 'the action was not warranted'}",
            decided_by="appeal",
        )
    return locked
