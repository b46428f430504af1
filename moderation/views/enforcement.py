"""/enforcement/: proposed removals to approve or reject, and the webhook deliveries."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.access import role_required
from accounts.roles import Role, user_has_role
from moderation.models import (
    ActionState,
    Delivery,
    EnforcementAction,
)
from moderation.services import deliveries, enforcement

DELIVERIES_SHOWN = 50


@role_required(Role.SENIOR)
@require_GET
def enforcement_index(request: HttpRequest) -> HttpResponse:
    proposals = (
        EnforcementAction.objects.filter(state=ActionState.PROPOSED)
        .select_related("subject__organization")
        .order_by("created_at")
    )
    shown = (
        Delivery.objects.select_related("action__subject", "organization")
        .prefetch_related("attempt_log")
        .order_by("-created_at")[:DELIVERIES_SHOWN]
    )
    return render(
        request,
        "moderation/enforcement.html",
        {
            "proposals": proposals,
            "deliveries": shown,
            "can_redeliver": user_has_role(request.user, Role.ADMIN),
            "max_attempts": deliveries.MAX_ATTEMPTS,
        },
    )


@role_required(Role.SENIOR)
@require_POST
def proposal_decide(request: HttpRequest, pk: str) -> HttpResponse:
    """Approve or Reject a proposed removal."""
    action = get_object_or_404(EnforcementAction, pk=pk)
    note = request.POST.get("note", "")
    try:
        if request.POST.get("decision") == "approve":
            enforcement.removal_approve(action=action, user=request.user, note=note)
            messages.success(request, "Removal approved; the platform is being told.")
        elif request.POST.get("decision") == "reject":
            enforcement.removal_reject(action=action, user=request.user, note=note)
            messages.info(request, "Removal rejected.")
        else:
            messages.error(request, "Choose Approve or Reject.")
    except enforcement.EnforcementRefused as refused:
        messages.error(request, str(refused))
    return redirect("enforcement")


@role_required(Role.ADMIN)
@require_POST
def delivery_redeliver(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a delivery again now, whatever its state; the attempt is logged as manual."""
    delivery = get_object_or_404(Delivery, pk=pk)
    attempt = deliveries.delivery_redeliver(delivery=delivery, user=request.user)
    if attempt is None:
        messages.error(request, "That delivery is being sent right now; try again in a moment.")
    elif attempt.ok:
        messages.success(
            request, f"Delivered: HTTP {attempt.status_code} in {attempt.latency_ms} ms."
        )
    else:
        messages.error(request, f"Not delivered: {attempt.error or attempt.status_code}.")
    return redirect("enforcement")
