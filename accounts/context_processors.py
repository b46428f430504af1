from __future__ import annotations

from django.http import HttpRequest

from accounts.roles import RANK, Role, user_role


def role(request: HttpRequest) -> dict[str, object]:
    """The signed-in user's role, for the navigation (permissions are checked in views)."""
    held = user_role(request.user) if hasattr(request, "user") else None
    return {"role": held, "is_admin": held is not None and RANK[held] >= RANK[Role.ADMIN]}
