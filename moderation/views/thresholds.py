"""/settings/thresholds/: admins edit the thresholds, see their effect first, and their history."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_http_methods

from accounts.access import role_required
from accounts.roles import Role
from moderation.models import Organization, ThresholdChange
from moderation.services.threshold_changes import thresholds_preview
from moderation.services.thresholds import (
    Rules,
    ThresholdsInvalid,
    rules_check,
    thresholds_change,
    thresholds_for,
    thresholds_use_global,
)
from moderation.views._types import SignedInRequest


def _rules_from(post: dict[str, str]) -> tuple[Rules | None, dict[str, str]]:
    errors: dict[str, str] = {}
    counts: dict[str, int] = {}
    rates: dict[str, float] = {}
    for name in ("window_days", "warn_violations", "restrict_violations", "remove_violations"):
        try:
            counts[name] = int(post.get(name, ""))
        except ValueError:
            errors[name] = "A whole number."
    for name in ("restrict_rate", "remove_rate"):
        try:
            rates[name] = float(post.get(name, ""))
        except ValueError:
            errors[name] = "A number from 0 to 1."
    if errors:
        return None, errors
    rules = Rules(
        window_days=counts["window_days"],
        warn_violations=counts["warn_violations"],
        restrict_violations=counts["restrict_violations"],
        restrict_rate=rates["restrict_rate"],
        remove_violations=counts["remove_violations"],
        remove_rate=rates["remove_rate"],
        remove_on_critical=post.get("remove_on_critical") == "on",
    )
    try:
        rules_check(rules)
    except ThresholdsInvalid as invalid:
        return None, invalid.errors
    return rules, {}


def _users(count: int) -> str:
    return f"{count} user{pluralize(count)}"


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def thresholds_edit(request: SignedInRequest) -> HttpResponse:
    organizations = list(Organization.objects.order_by("slug"))
    scope = request.POST.get("scope", request.GET.get("scope", ""))
    organization = next((o for o in organizations if o.slug == scope), None)
    current = thresholds_for(organization)
    inherited = organization is not None and current.organization_id is None
    values: dict[str, object] = Rules.of(current).__dict__
    context: dict[str, object] = {
        "organizations": organizations,
        "scope": organization.slug if organization else "",
        "current": current,
        "inherited": inherited,
        "values": values,
        "errors": {},
        "history": ThresholdChange.objects.select_related("organization", "changed_by")[:30],
    }
    if request.method == "POST":
        action = request.POST.get("action", "preview")
        if action == "reset" and organization is not None:
            change = thresholds_use_global(organization=organization, user=request.user)
            if change is not None:
                messages.success(
                    request,
                    f"{organization.slug} follows the global thresholds again; "
                    f"{_users(change.subjects_changed)} changed status under them.",
                )
            return redirect(f"{request.path}?scope={organization.slug}")
        rules, errors = _rules_from(request.POST)
        values = {**values, **request.POST.dict()}
        values["remove_on_critical"] = request.POST.get("remove_on_critical") == "on"
        context["values"] = values
        if errors:
            context["errors"] = errors
            return render(request, "moderation/thresholds.html", context, status=422)
        assert rules is not None
        if action == "save":
            change = thresholds_change(organization=organization, rules=rules, user=request.user)
            messages.success(
                request,
                f"Thresholds saved; {_users(change.subjects_changed)} changed status under them.",
            )
            suffix = f"?scope={organization.slug}" if organization else ""
            return redirect(f"{request.path}{suffix}")
        context["preview"] = thresholds_preview(organization=organization, rules=rules)
    return render(request, "moderation/thresholds.html", context)
