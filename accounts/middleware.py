"""Two middlewares of the session: roles that must set up two-factor are sent to do so, and a
session ends after MODQUEUE_SESSION_IDLE_HOURS without a request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django_htmx.http import HttpResponseClientRedirect

from accounts import two_factor
from accounts.roles import user_role

# What a user who must set up two-factor may still reach: the set-up page, logging in and
# out. The API authenticates with keys, not users, static files and the health checks are
# public; /metrics takes its own bearer token.
SETUP_ALLOWED = (
    "/accounts/two-factor/",
    "/accounts/login/",
    "/accounts/logout/",
    "/api/",
    "/static/",
    "/healthz",
    "/readyz",
    "/metrics",
)


class TwoFactorRequiredMiddleware:
    """A signed-in user whose role is in MODQUEUE_2FA_REQUIRED_ROLES and who has no confirmed
    authenticator app is sent to set one up from every page (htmx: HX-Redirect)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        required = settings.MODQUEUE_2FA_REQUIRED_ROLES
        user = request.user
        if (
            required
            and user.is_authenticated
            and not request.path.startswith(SETUP_ALLOWED)
            and (role := user_role(user)) is not None
            and role.value in required
            and not two_factor.totp_enabled(user)
        ):
            setup = reverse("two-factor")
            if request.headers.get("HX-Request") == "true":
                return HttpResponseClientRedirect(setup)
            return HttpResponseRedirect(setup)
        return self.get_response(request)


# Saving the session moves its expiry MODQUEUE_SESSION_IDLE_HOURS (SESSION_COOKIE_AGE) on;
# saving it on every request (SESSION_SAVE_EVERY_REQUEST) would write the sessions table for
# every poll and htmx swap, so it is saved when its last save is this old.
REFRESH_SECONDS = 300
REFRESHED_KEY = "refreshed_at"


class IdleSessionMiddleware:
    """Slides a signed-in session's expiry with activity, at most once per REFRESH_SECONDS:
    a session ends SESSION_COOKIE_AGE (8 hours) after its last refresh, so after 8 idle hours
    at most (and at least 8 hours less 5 minutes)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = timezone.now().timestamp()
            if now - request.session.get(REFRESHED_KEY, 0) > REFRESH_SECONDS:
                request.session[REFRESHED_KEY] = now  # modified: saved, expiry moved on
        return self.get_response(request)


def session_refreshed_on_login(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """Logging in saves the session (a new key, a new expiry): the first request after it has
    nothing to refresh. Connected to `user_logged_in` in AccountsConfig.ready."""
    if request is not None and hasattr(request, "session"):
        request.session[REFRESHED_KEY] = timezone.now().timestamp()
