"""Two-factor pages that change devices, so are audited: a user's own set-up and recovery
codes (/accounts/two-factor/), and the admins' list of users with a reset per user."""

from __future__ import annotations

import django_otp
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import two_factor
from accounts.access import role_required
from accounts.roles import Role, user_role
from moderation.services.two_factor import (
    recovery_codes_renew,
    two_factor_reset,
    two_factor_set_up,
)


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # behind role_required
    return user


@sensitive_post_parameters("code")
@never_cache  # the secret and the recovery codes stay out of every cache
@role_required(Role.REVIEWER)
@require_http_methods(["GET", "POST"])
def two_factor_page(request: HttpRequest) -> HttpResponse:
    """Set up two-factor (a secret, its QR code, a code to confirm) or, once on, its status."""
    user = _user(request)
    if two_factor.totp_enabled(user):
        if request.method == "POST":
            return redirect("two-factor")
        return render(
            request,
            "accounts/two_factor.html",
            {"enabled": True, "codes_left": two_factor.recovery_codes_left(user)},
        )
    if request.method == "POST":
        done = two_factor_set_up(user=user, code=request.POST.get("code", ""))
        if done is not None:
            device, codes = done
            django_otp.login(request, device)  # this session has just shown a right code
            return _recovery_codes(request, codes, first=True)
    device = two_factor.totp_device_unconfirmed(user=user)
    context = {
        "enabled": False,
        "secret_key": two_factor.secret_key_text(device),
        "qr_code": two_factor.qr_code_svg(device),
        "error": request.method == "POST",
    }
    return render(
        request, "accounts/two_factor.html", context, status=422 if context["error"] else 200
    )


@never_cache
@role_required(Role.REVIEWER)
@require_POST
def recovery_codes_new(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if not two_factor.totp_enabled(user):
        messages.error(request, "Set up two-factor authentication first.")
        return redirect("two-factor")
    return _recovery_codes(request, recovery_codes_renew(user=user), first=False)


def _recovery_codes(request: HttpRequest, codes: list[str], *, first: bool) -> HttpResponse:
    """Shown once, in the answer to the POST that made them: only they are kept, nowhere else."""
    return render(request, "accounts/recovery_codes.html", {"codes": codes, "first": first})


@role_required(Role.ADMIN)
@require_GET
def users_index(request: HttpRequest) -> HttpResponse:
    users = [
        {"user": u, "role": user_role(u), "two_factor": u.two_factor}  # type: ignore[attr-defined]
        for u in two_factor.users_with_two_factor()
    ]
    return render(request, "accounts/users.html", {"users": users})


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def user_two_factor_reset(request: HttpRequest, pk: int) -> HttpResponse:
    """Asks first (with a reason, for the audit log); the reset itself is the POST."""
    target = get_object_or_404(User, pk=pk)
    role = user_role(target)
    context = {
        "target": target,
        "enabled": two_factor.totp_enabled(target),
        "required": role is not None and role.value in settings.MODQUEUE_2FA_REQUIRED_ROLES,
        "reason": "",
    }
    if request.method == "GET":
        return render(request, "accounts/user_two_factor_reset.html", context)
    reason = request.POST.get("reason", "").strip()
    if not reason or len(reason) > 500:
        context |= {"reason": reason, "error": "Give a reason (up to 500 characters)."}
        return render(request, "accounts/user_two_factor_reset.html", context, status=422)
    two_factor_reset(user=target, actor=_user(request), reason=reason)
    messages.success(
        request,
        f"Two-factor authentication of {target.get_username()} is reset: their password alone "
        "signs them in until they set it up again.",
    )
    return redirect("users")
