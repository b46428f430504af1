"""Logging in: the password (django's LoginView, throttled by django-axes), then, for a user
with two-factor on, a code from their authenticator app or a recovery code."""

from __future__ import annotations

import django_otp
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts import two_factor


class PasswordLoginView(LoginView):
    """The first step. A right password signs in a user without two-factor; one with it is
    only remembered as pending (see `two_factor.pending_start`) until the code step."""

    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        user = form.get_user()
        if not two_factor.totp_enabled(user):
            return super().form_valid(form)
        two_factor.pending_start(
            self.request.session,
            user=user,
            backend=user.backend,  # set by authenticate()
            next_url=self.get_success_url(),  # `next` if safe, else the queue
        )
        return redirect("login-code")


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_code(request: HttpRequest) -> HttpResponse:
    """The second step: a right code signs in (django's login, and django-otp's, so the
    session counts as verified); wrong ones are throttled and, five of them, end the step."""
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    was_pending = two_factor.PENDING_SESSION_KEY in request.session
    pending = two_factor.pending_read(request.session)
    if pending is None:
        if was_pending:
            messages.error(request, "Your log in took too long: enter your password again.")
        return redirect("login")
    if request.method == "GET":
        return render(request, "accounts/login_code.html")

    check = two_factor.code_verify(user=pending.user, code=request.POST.get("code", ""))
    if check.device is not None:
        two_factor.pending_end(request.session)
        login(request, pending.user, backend=pending.backend)
        django_otp.login(request, check.device)
        safe = url_has_allowed_host_and_scheme(
            pending.next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        return redirect(pending.next_url if safe else resolve_url(settings.LOGIN_REDIRECT_URL))

    # Counted as a failed log in too: django-axes locks the password step after enough.
    user_login_failed.send(
        sender=__name__, credentials={"username": pending.user.get_username()}, request=request
    )
    if two_factor.pending_failed(request.session) >= two_factor.PENDING_MAX_FAILURES:
        two_factor.pending_end(request.session)
        messages.error(request, "Too many wrong codes: enter your password again.")
        return redirect("login")
    if check.throttled:
        error = "Too many wrong codes: wait a few seconds, then try again."
        return render(request, "accounts/login_code.html", {"error": error}, status=429)
    error = "That code did not match. Try the current code from your app, or a recovery code."
    return render(request, "accounts/login_code.html", {"error": error})
