"""Roles: reviewer < senior < admin, kept as Django groups so permissions can hang off them."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, Group, User
from django.db import models


class Role(models.TextChoices):
    REVIEWER = "reviewer", "Reviewer"
    SENIOR = "senior", "Senior reviewer"
    ADMIN = "admin", "Admin"


RANK = {Role.REVIEWER: 1, Role.SENIOR: 2, Role.ADMIN: 3}


# Where user_role keeps its answer on the user object.
_ROLE_CACHE = "_modqueue_role"
_UNKNOWN = object()


def user_role(user: User | AnonymousUser) -> Role | None:
    """The highest role the user holds, or None.

    Kept on the user object after the first look-up, as Django's ModelBackend keeps its
    permission cache: one request asks several times (the view, the claim, the navigation),
    and each request loads its user afresh, so a change shows from the next request on.
    """
    if not user.is_authenticated:
        return None
    cached = getattr(user, _ROLE_CACHE, _UNKNOWN)
    if cached is None or isinstance(cached, Role):
        return cached
    names = {g.name for g in user.groups.all()}
    held = [role for role in Role if role.value in names]
    role = max(held, key=RANK.__getitem__) if held else None
    setattr(user, _ROLE_CACHE, role)
    return role


def role_remember(user: User, name: str | None) -> None:
    """Keep the role already read with the user (accounts/backends.py) for user_role."""
    setattr(user, _ROLE_CACHE, Role(name) if name in Role.values else None)


def user_has_role(user: User | AnonymousUser, role: Role) -> bool:
    held = user_role(user)
    return held is not None and RANK[held] >= RANK[role]


def role_set(*, user: User, role: Role) -> Role | None:
    """Give the user exactly this role; returns the role they held before. The audited
    change that callers want is moderation's `services.roles.role_assign`."""
    if hasattr(user, _ROLE_CACHE):
        delattr(user, _ROLE_CACHE)  # the groups as they are now, not as first looked up
    before = user_role(user)
    if before == role:
        return before
    groups = Group.objects.filter(name__in=[r.value for r in Role])
    user.groups.remove(*groups)
    user.groups.add(Group.objects.get(name=role.value))
    setattr(user, _ROLE_CACHE, role)
    return before
