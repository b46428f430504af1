"""/settings/policy/: admins grant and revoke exceptions, and set the sample and retention."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.access import role_required
from accounts.roles import Role
from moderation.models import (
    Organization,
    PolicyCategory,
    PolicyException,
    PolicySettings,
)
from moderation.services import policy
from moderation.views._types import SignedInRequest


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


@role_required(Role.ADMIN)
@require_GET
def policy_index(request: SignedInRequest) -> HttpResponse:
    now = timezone.now()
    exceptions = PolicyException.objects.select_related("organization", "category", "approved_by")
    current = PolicySettings.current()
    return render(
        request,
        "moderation/policy.html",
        {
            "exceptions": exceptions.order_by("organization__slug", "-valid_until"),
            "now": now,
            "organizations": Organization.objects.order_by("slug"),
            "categories": PolicyCategory.objects.order_by("name"),
            "settings": current,
            # As saved (2.5, not a rounded 2), so saving the form unchanged changes nothing.
            "sample_percent": f"{current.audit_sample_rate * 100:.10g}",
            "form": request.session.pop("exception_form", {}),
        },
    )


@role_required(Role.ADMIN)
@require_POST
def exception_grant(request: SignedInRequest) -> HttpResponse:
    form = {
        k: request.POST.get(k, "")
        for k in ("organization", "category", "scope", "reference", "valid_from", "valid_until")
    }
    organization = Organization.objects.filter(slug=form["organization"]).first()
    category = PolicyCategory.objects.filter(slug=form["category"]).first()
    start, until = _day(form["valid_from"]), _day(form["valid_until"])
    problem = None
    if organization is None or category is None:
        problem = "Choose an organization and a category."
    elif until is None or (form["valid_from"] and start is None):
        problem = "Dates are YYYY-MM-DD."
    else:
        try:
            policy.exception_grant(
                organization=organization,
                category=category,
                scope=form["scope"],
                reference=form["reference"],
                valid_from=datetime.combine(start, time.min, tzinfo=UTC) if start else None,
                valid_until=datetime.combine(until, time.max, tzinfo=UTC),
                approved_by=request.user,
            )
        except policy.ExceptionRefused as refused:
            problem = str(refused)
    if problem:
        messages.error(request, f"Not granted: {problem}")
        request.session["exception_form"] = form
    else:
        messages.success(request, f"Exception granted to {form['organization']} for {category}.")
    return redirect("policy")


@role_required(Role.ADMIN)
@require_POST
def exception_revoke(request: SignedInRequest, pk: int) -> HttpResponse:
    """Revoke asks first: the first POST shows what will happen and changes nothing; only the
    one with `confirmed=1` revokes."""
    exception = get_object_or_404(
        PolicyException.objects.select_related("organization", "category"),
        pk=pk,
        revoked_at__isnull=True,
    )
    if request.POST.get("confirmed") != "1":
        return render(
            request,
            "moderation/confirm_revoke.html",
            {"exception": exception, "allowed": exception.decisions.count()},
        )
    policy.exception_revoke(exception=exception, user=request.user)
    messages.info(request, "Exception revoked; it no longer applies.")
    return redirect("policy")


@role_required(Role.ADMIN)
@require_POST
def policy_settings_save(request: SignedInRequest) -> HttpResponse:
    try:
        rate = float(request.POST.get("audit_sample_percent", "")) / 100
        days = int(request.POST.get("retention_days", ""))
    except ValueError:
        messages.error(request, "Not saved: the sample is a percentage and retention whole days.")
        return redirect("policy")
    try:
        policy.policy_settings_save(audit_sample_rate=rate, retention_days=days, user=request.user)
    except policy.PolicySettingsInvalid as invalid:
        messages.error(request, f"Not saved: {invalid}")
        return redirect("policy")
    messages.success(request, "Policy settings saved.")
    return redirect("policy")
