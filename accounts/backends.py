"""The model backend, with the user's role read in the same query as the user."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, User
from django.db.models import Case, IntegerField, OuterRef, Subquery, Value, When

from accounts.roles import RANK, Role, role_remember


def _highest_role() -> Subquery:
    """The name of the highest role group the user is in (NULL for none)."""
    rank = Case(
        *(When(name=role.value, then=Value(n)) for role, n in RANK.items()),
        output_field=IntegerField(),
    )
    groups = Group.objects.filter(user=OuterRef("pk"), name__in=[r.value for r in Role])
    return Subquery(groups.annotate(rank=rank).order_by("-rank").values("name")[:1])


class RoleModelBackend(ModelBackend):
    """Django's ModelBackend whose get_user (every signed-in request) also reads the role, so
    a request spends one query on its user and role, not two (accounts/roles.py)."""

    def get_user(self, user_id: Any) -> User | None:
        user = (
            User._default_manager.annotate(modqueue_role=_highest_role()).filter(pk=user_id).first()
        )
        if user is None or not self.user_can_authenticate(user):
            return None
        role_remember(user, getattr(user, "modqueue_role", None))
        return user
