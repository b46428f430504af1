"""The subject page: one end user's status, figures and history."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.access import role_required
from accounts.roles import Role, user_has_role
from moderation import selectors
from moderation.access import subject_for_reviewer
from moderation.models import ActionKind
from moderation.services import enforcement
from moderation.services.audit import audit_subject_view
from moderation.services.thresholds import thresholds_for
from moderation.views._types import SignedInRequest


@login_required
@require_GET
def subject_detail(request: SignedInRequest, organization: str, user_id_hash: str) -> HttpResponse:
    subject = subject_for_reviewer(request, organization, user_id_hash)
    audit_subject_view(subject=subject, viewer=request.user)
    history = selectors.subject_history(subject, limit=200)
    for item in history:
        # The one decision that counts for the item (CONTRACT §6 v2): the latest final one
        # neither undone nor overturned; the others stay listed, marked as what they became.
        item.standing_final = next(  # type: ignore[attr-defined]
            (d for d in reversed(item.decisions.all()) if d.voided_at is None and d.is_final),
            None,
        )
    return render(
        request,
        "moderation/subject.html",
        {
            "subject": subject,
            "history": history,
            "window_days": thresholds_for(subject.organization).window_days,
            "actions": selectors.subject_actions(subject),
            "can_act": user_has_role(request.user, Role.SENIOR),
            "action_kinds": ActionKind.choices,
        },
    )


@role_required(Role.SENIOR)
@require_POST
def subject_act(request: SignedInRequest, organization: str, user_id_hash: str) -> HttpResponse:
    """A senior's or admin's own warn, restrict, remove or reinstate, with a reason."""
    subject = subject_for_reviewer(request, organization, user_id_hash)
    kind = request.POST.get("kind", "")
    if kind not in ActionKind.values:
        messages.error(request, "Choose an action.")
    else:
        try:
            enforcement.action_by_hand(
                subject=subject,
                kind=ActionKind(kind),
                user=request.user,
                reason=request.POST.get("reason", ""),
            )
            messages.success(
                request, f"{ActionKind(kind).label} taken; the platform is being told."
            )
        except enforcement.EnforcementRefused as refused:
            messages.error(request, str(refused))
    return redirect("subject", organization=organization, user_id_hash=user_id_hash)
