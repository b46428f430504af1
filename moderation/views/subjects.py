"""The subject page: one end user's status, figures and history."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.access import role_required
from accounts.roles import Role, user_has_role
from moderation import selectors
from moderation.access import subject_for_reviewer
from moderation.models import ActionKind, FlaggedItem, Organization, Subject
from moderation.services import enforcement, gold_serving
from moderation.services.audit import audit_subject_view
from moderation.services.thresholds import thresholds_for
from moderation.views._types import SignedInRequest


@login_required
@require_GET
def subject_detail(request: SignedInRequest, organization: str, user_id_hash: str) -> HttpResponse:
    try:
        subject = subject_for_reviewer(request, organization, user_id_hash)
    except Http404:
        # The user link of a golden item leads to its stand-in user, for its own reviewer:
        # a page like a new user's, so that the link does not give the item away.
        served = _stand_in_item(request, organization, user_id_hash)
        if served is None:
            raise
        subject = gold_serving.stand_in(served)
        history = selectors.items_history(FlaggedItem.objects.filter(pk=served.pk))
        return _subject_page(request, subject, history, actions=[])
    audit_subject_view(subject=subject, viewer=request.user)
    history = selectors.subject_history(subject, limit=200)
    return _subject_page(request, subject, history, actions=selectors.subject_actions(subject))


def _stand_in_item(
    request: SignedInRequest, organization: str, user_id_hash: str
) -> FlaggedItem | None:
    org = Organization.objects.filter(slug=organization).first()
    if org is None or not re.fullmatch(r"[0-9a-f]{64}", user_id_hash):
        return None
    return gold_serving.stand_in_item(
        organization_id=org.pk, user_id_hash=user_id_hash, user=request.user
    )


def _subject_page(
    request: SignedInRequest, subject: Subject, history: list[FlaggedItem], *, actions: Any
) -> HttpResponse:
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
            "actions": actions,
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
