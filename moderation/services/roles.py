"""Role changes, audited: the arrows go from moderation to accounts, never back."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from accounts.roles import Role, role_set
from moderation.models import AuditAction
from moderation.services.audit import audit_record


@transaction.atomic
def role_assign(*, user: User, role: Role, actor: User | None = None) -> None:
    """Give the user exactly this role, and record the change (`actor` None: the command line)."""
    before = role_set(user=user, role=role)
    if before == role:
        return
    audit_record(
        actor=actor,
        action=AuditAction.ROLE_CHANGE,
        target=user.get_username(),
        detail={"from": before.value if before else None, "to": role.value},
    )
