"""/enforcement/: proposed removals to approve or reject, and the webhook deliveries."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.models import User
from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.access import role_required
from accounts.roles import Role, user_has_role
from moderation.models import (
    ActionKind,
    ActionState,
    Decision,
    Delivery,
    EnforcementAction,
)
from moderation.services import bulk, deliveries, enforcement
from moderation.views._types import SignedInRequest

DELIVERIES_SHOWN = 50
HISTORY_SHOWN = 20


def _with_items(actions: list[EnforcementAction], user: User) -> None:
    """Give each proposal the items behind it (`basis_items`) and those of them the user
    decided (`own_items`): a standing decision of theirs on one means another senior or
    admin approves it (four eyes; services/enforcement.removal_approve refuses it too)."""
    for action in actions:
        action.basis_items = sorted({d.item_id for d in action.basis.all()})  # type: ignore[attr-defined]
    behind = {pk for action in actions for pk in action.basis_items}  # type: ignore[attr-defined]
    mine = enforcement.items_decided_by(user=user, item_ids=behind)
    for action in actions:
        action.own_items = [pk for pk in action.basis_items if pk in mine]  # type: ignore[attr-defined]


def _proposals() -> Any:
    return EnforcementAction.objects.select_related("subject__organization").prefetch_related(
        Prefetch("basis", queryset=Decision.objects.only("id", "item_id"))
    )


def _index(request: SignedInRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    proposals = list(_proposals().filter(state=ActionState.PROPOSED).order_by("created_at"))
    # Proposals settled by a person or withdrawn with their basis: approved removals show as
    # taken, the rest with the note or the reason they ended with.
    settled = list(
        _proposals()
        .select_related("approved_by")
        .filter(kind=ActionKind.REMOVE, decided_by="threshold")
        .exclude(state=ActionState.PROPOSED)
        .order_by("-resolved_at", "-created_at")[:HISTORY_SHOWN]
    )
    _with_items(proposals + settled, request.user)
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
            "settled": settled,
            "deliveries": shown,
            "can_redeliver": user_has_role(request.user, Role.ADMIN),
            "max_attempts": deliveries.MAX_ATTEMPTS,
            "error": error,
        },
        status=status,
    )


@role_required(Role.SENIOR)
@require_GET
def enforcement_index(request: SignedInRequest) -> HttpResponse:
    return _index(request)


@role_required(Role.SENIOR)
@require_POST
def proposal_decide(request: SignedInRequest, pk: str) -> HttpResponse:
    """Approve or Reject a proposed removal. Approving asks first: the first POST shows what
    will happen and changes nothing; only the one with `confirmed=1` acts."""
    action = get_object_or_404(_proposals(), pk=pk, kind=ActionKind.REMOVE)
    _with_items([action], request.user)
    note = request.POST.get("note", "")
    decision = request.POST.get("decision")
    if decision not in ("approve", "reject"):
        messages.error(request, "Choose Approve or Reject.")
        return redirect("enforcement")
    if decision == "approve" and request.POST.get("confirmed") != "1":
        if action.state != ActionState.PROPOSED:
            return _index(request, error="This removal has already been decided.", status=409)
        if action.own_items:
            return _index(
                request, error=enforcement.four_eyes_refusal(action.own_items), status=403
            )
        return render(
            request,
            "moderation/confirm_removal.html",
            {"action": action, "note": note, "organization": action.subject.organization},
        )
    try:
        if decision == "approve":
            enforcement.removal_approve(action=action, user=request.user, note=note)
        else:
            enforcement.removal_reject(action=action, user=request.user, note=note)
    except enforcement.EnforcementRefused as refused:
        # Four eyes is a matter of who asks (403); anything else, of the proposal's state.
        status = 403 if action.own_items and decision == "approve" else 409
        return _index(request, error=str(refused), status=status)
    if decision == "approve":
        messages.success(request, "Removal approved; the platform is being told.")
    else:
        messages.info(request, "Removal rejected.")
    return redirect("enforcement")


def _selected(values: list[str]) -> list[EnforcementAction] | None:
    """The selected removal proposals, oldest first; None if any value is not one's id."""
    try:
        ids = {uuid.UUID(value) for value in values}
    except ValueError:
        return None
    actions = list(
        _proposals()
        .select_related("approved_by")
        .filter(pk__in=ids, kind=ActionKind.REMOVE)
        .order_by("created_at")
    )
    return actions if len(actions) == len(ids) else None


def _names(outcomes: list[tuple[EnforcementAction, str]]) -> str:
    return "; ".join(f"{bulk.proposal_name(action)}: {why}" for action, why in outcomes)


def _report(request: SignedInRequest, result: bulk.ProposalsResult) -> None:
    verb = "approved" if result.decision == "approve" else "rejected"
    if result.done:
        listed = ", ".join(bulk.proposal_name(action) for action in result.done)
        told = "; the platforms are being told" if result.decision == "approve" else ""
        messages.success(request, f"{len(result.done)} {verb}: {listed}{told}.")
    if result.refused:
        messages.error(request, f"{len(result.refused)} refused: {_names(result.refused)}.")
    if result.stale:
        messages.info(
            request, f"{len(result.stale)} no longer waiting, left as is: {_names(result.stale)}."
        )


@role_required(Role.SENIOR)
@require_POST
def proposals_bulk(request: SignedInRequest) -> HttpResponse:
    """ "Approve selected" or "Reject selected": the first POST lists the selection and what
    will happen, changing nothing; the one with `confirmed=1` approves or rejects each
    proposal on its own (services/bulk.py), and reports what was done, refused and stale."""
    chosen = request.POST.get("decision")
    if chosen not in ("approve", "reject"):
        return _index(request, error="Choose Approve selected or Reject selected.", status=422)
    decision: bulk.ProposalVerdict = "approve" if chosen == "approve" else "reject"
    values = request.POST.getlist("proposal")
    if not values:
        return _index(request, error="Select at least one proposed removal.", status=422)
    actions = _selected(values)
    if actions is None:
        return _index(
            request,
            error="Some of the selected proposals do not exist; nothing was changed.",
            status=422,
        )
    note = request.POST.get("note", "")
    if request.POST.get("confirmed") != "1":
        _with_items(actions, request.user)
        return render(
            request,
            "moderation/confirm_bulk_proposals.html",
            {"actions": actions, "decision": decision, "note": note},
        )
    _report(
        request,
        bulk.proposals_decide(actions=actions, user=request.user, decision=decision, note=note),
    )
    return redirect("enforcement")


@role_required(Role.ADMIN)
@require_POST
def delivery_redeliver(request: SignedInRequest, pk: int) -> HttpResponse:
    """Send a delivery again now, whatever its state; the attempt is logged as manual."""
    delivery = get_object_or_404(Delivery.objects.select_related("action__subject"), pk=pk)
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
