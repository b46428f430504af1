"""Role checks for views: `role_required` and the middleware that shuts out users without a role.

The permission-checked object lookups live in `moderation/access.py`; this module knows
users and roles only.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render

from accounts.roles import Role, user_has_role, user_role


def role_required(
    role: Role,
) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """Signed in (else to log in) and holding at least `role` (else 403)."""

    def decorator(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not user_has_role(request.user, role):
                raise PermissionDenied(f"This page is for the {role.label.lower()} role and above.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


# What a signed-in user without a role may still reach: logging in and out. The API
# authenticates with keys, not users, static files and the health checks are public;
# /metrics takes its own bearer token.
ROLELESS_ALLOWED = (
    "/accounts/login/",
    "/accounts/logout/",
    "/api/",
    "/static/",
    "/healthz",
    "/readyz",
    "/metrics",
)


class RoleRequiredMiddleware:
    """A signed-in user without a role gets 403 on every page and action but log in and
    log out (CONTRACT §8 v2), whatever a view forgets to check."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated
            and user_role(user) is None
            and not request.path.startswith(ROLELESS_ALLOWED)
        ):
            return render(
                request,
                "403.html",
                {"reason": "Your account has no role yet: ask an admin to give you one."},
                status=403,
            )
        return self.get_response(request)
