"""The model backend, with the user's role read in the same query as the user."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, User

from accounts.roles import RANK, Role, role_remember


def _user_with_role_sql() -> str:
    """The user's row and the name of their highest role group (NULL for none), written out
    once: every signed-in request runs it, and building it with the ORM (a subquery with a
    CASE over the roles) cost about a millisecond of CPU a request to compile."""
    user, group = User._meta.db_table, Group._meta.db_table
    membership = User.groups.through._meta.db_table
    rank = " ".join(f"WHEN '{role.value}' THEN {n}" for role, n in RANK.items())
    names = ", ".join(f"'{role.value}'" for role in Role)
    return (
        f"SELECT u.*, (SELECT g.name FROM {group} g JOIN {membership} m ON m.group_id = g.id "
        f"WHERE m.user_id = u.id AND g.name IN ({names}) "
        f"ORDER BY CASE g.name {rank} END DESC LIMIT 1) AS modqueue_role "
        f"FROM {user} u WHERE u.id = %s"
    )


class RoleModelBackend(ModelBackend):
    """Django's ModelBackend whose get_user (every signed-in request) also reads the role, so
    a request spends one query on its user and role, not two (accounts/roles.py)."""

    def get_user(self, user_id: Any) -> User | None:
        try:
            pk = int(user_id)
        except (TypeError, ValueError):
            return None
        found = list(User._default_manager.raw(_SQL, [pk]))
        user = found[0] if found else None
        if user is None or not self.user_can_authenticate(user):
            return None
        role_remember(user, getattr(user, "modqueue_role", None))
        return user


_SQL = _user_with_role_sql()
