"""/appeals/: open appeals, for a senior or admin who had no part in the action."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.access import role_required
from accounts.roles import Role
from moderation.models import Appeal, AppealState
from moderation.services import appeals
from moderation.services.enforcement import EnforcementRefused
from moderation.services.pii import pii_spans
from moderation.views._types import SignedInRequest

REVEALED = "pii_revealed_appeals"


def _revealed(request: SignedInRequest) -> set[str]:
    return set(request.session.get(REVEALED, []))


@role_required(Role.SENIOR)
@require_GET
def appeals_index(request: SignedInRequest) -> HttpResponse:
    open_appeals = list(
        Appeal.objects.filter(state=AppealState.OPEN)
        .select_related("action__subject__organization", "action__actor", "action__approved_by")
        .order_by("created_at")
    )
    revealed = _revealed(request)
    for appeal in open_appeals:
        appeal.may_decide = appeals.appeal_may_decide(appeal, request.user)  # type: ignore[attr-defined]
        # A user's own words: masked like an item's text until revealed, with a reason.
        appeal.pii_revealed = str(appeal.pk) in revealed  # type: ignore[attr-defined]
        appeal.has_pii = bool(pii_spans(appeal.message))  # type: ignore[attr-defined]
    decided = (
        Appeal.objects.exclude(state=AppealState.OPEN)
        .select_related("action__subject__organization", "decided_by")
        .order_by("-decided_at")[:20]
    )
    return render(request, "moderation/appeals.html", {"open": open_appeals, "decided": decided})


@role_required(Role.SENIOR)
@require_POST
def appeal_reveal_pii(request: SignedInRequest, pk: str) -> HttpResponse:
    """Show the personal data masked in an appeal message; who, when and why are logged."""
    appeal = get_object_or_404(Appeal.objects.select_related("action__subject"), pk=pk)
    try:
        appeals.appeal_reveal_pii(
            appeal=appeal, user=request.user, reason=request.POST.get("reason", "")
        )
    except appeals.RevealRefused as refused:
        messages.error(request, str(refused))
        return redirect("appeals")
    request.session[REVEALED] = [str(appeal.pk), *request.session.get(REVEALED, [])][:200]
    return redirect(f"{reverse('appeals')}#appeal-{appeal.pk}")


@role_required(Role.SENIOR)
@require_POST
def appeal_decide(request: SignedInRequest, pk: str) -> HttpResponse:
    appeal = get_object_or_404(Appeal, pk=pk)
    decision = request.POST.get("decision")
    if decision not in ("uphold", "deny"):
        messages.error(request, "Choose Uphold or Deny.")
        return redirect("appeals")
    try:
        appeals.appeal_decide(
            appeal=appeal,
            user=request.user,
            upheld=decision == "uphold",
            reason=request.POST.get("reason", ""),
        )
    except EnforcementRefused as refused:
        messages.error(request, str(refused))
        return redirect("appeals")
    if decision == "uphold":
        messages.success(request, "Appeal upheld: the user is reinstated and the platform told.")
    else:
        messages.info(request, "Appeal denied; the reason is recorded.")
    return redirect("appeals")
