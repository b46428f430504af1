from __future__ import annotations

from django.http import HttpRequest

from accounts.roles import RANK, Role, user_role


def role(request: HttpRequest) -> dict[str, object]:
    """The signed-in user's role, for the navigation (permissions are checked in views)."""
    held = user_role(request.user) if hasattr(request, "user") else None
    rank = RANK[held] if held is not None else 0
    return {
        "role": held,
        "is_senior": rank >= RANK[Role.SENIOR],
        "is_admin": rank >= RANK[Role.ADMIN],
    }
