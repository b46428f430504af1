"""Roles: reviewer < senior < admin, kept as Django groups so permissions can hang off them."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from django.db import models, transaction


class Role(models.TextChoices):
    REVIEWER = "reviewer", "Reviewer"
    SENIOR = "senior", "Senior reviewer"
    ADMIN = "admin", "Admin"


RANK = {Role.REVIEWER: 1, Role.SENIOR: 2, Role.ADMIN: 3}


# Where user_role keeps its answer on the user object.
_ROLE_CACHE = "_modqueue_role"
_UNKNOWN = object()


def user_role(user: AbstractBaseUser | AnonymousUser) -> Role | None:
    """The highest role the user holds, or None.

    Kept on the user object after the first look-up, as Django's ModelBackend keeps its
    permission cache: one request asks several times (the view, the claim, the navigation),
    and each request loads its user afresh, so a change shows from the next request on.
    """
    if not user.is_authenticated:
        return None
    cached = getattr(user, _ROLE_CACHE, _UNKNOWN)
    if cached is not _UNKNOWN:
        return cached  # type: ignore[return-value]
    names = {g.name for g in user.groups.all()}  # type: ignore[attr-defined]
    held = [role for role in Role if role.value in names]
    role = max(held, key=RANK.__getitem__) if held else None
    setattr(user, _ROLE_CACHE, role)
    return role


def user_has_role(user: AbstractBaseUser | AnonymousUser, role: Role) -> bool:
    held = user_role(user)
    return held is not None and RANK[held] >= RANK[role]


@transaction.atomic
def role_assign(
    *, user: AbstractBaseUser, role: Role, actor: AbstractBaseUser | None = None
) -> None:
    """Give the user exactly this role, and record the change (`actor` None: the command line)."""
    from moderation.models import AuditAction
    from moderation.services.audit import audit_record

    if hasattr(user, _ROLE_CACHE):
        delattr(user, _ROLE_CACHE)  # the groups as they are now, not as first looked up
    before = user_role(user)
    if before == role:
        return
    groups = Group.objects.filter(name__in=[r.value for r in Role])
    user.groups.remove(*groups)  # type: ignore[attr-defined]
    user.groups.add(Group.objects.get(name=role.value))  # type: ignore[attr-defined]
    setattr(user, _ROLE_CACHE, role)
    audit_record(
        actor=actor,
        action=AuditAction.ROLE_CHANGE,
        target=user.get_username(),
        detail={"from": before.value if before else None, "to": role.value},
    )
