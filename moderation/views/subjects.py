"""The subject page: one end user's status, figures and history."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST

from accounts.access import role_required
from accounts.roles import Role, user_has_role
from moderation import selectors
from moderation.access import subject_for_reviewer
from moderation.models import (
    ActionKind,
    FlaggedItem,
    Organization,
    PolicyCategory,
    Subject,
    Verdict,
)
from moderation.services import bulk, enforcement, gold_serving, review
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
    before = _history_cursor(request.GET.get("before", ""))
    if before is None and request.GET.get("before"):
        return HttpResponseBadRequest(
            "This link to older items is broken. Start again from the newest items.",
            content_type="text/plain; charset=utf-8",
        )
    audit_subject_view(subject=subject, viewer=request.user)
    history, older = _history_page(subject, before)
    return _subject_page(
        request,
        subject,
        history,
        actions=selectors.subject_actions(subject),
        real=True,
        older=older,
        paged=before is not None,
    )


# The history shows this many items a page, newest first, with a link to the older ones: a
# user with 10,000 items gets a page as quick as one with ten (docs/performance.md "Pages").
HISTORY_PAGE = 50


def _history_cursor(text: str) -> tuple[datetime, int] | None:
    """The keyset cursor "<flagged_at>_<id>" of the last item a page showed; None if absent
    or not one the page wrote."""
    at_text, _, id_text = text.rpartition("_")
    try:
        at = parse_datetime(at_text)
    except ValueError:
        return None
    if at is None or not id_text.isascii() or not id_text.isdigit():
        return None
    return at, int(id_text)


def _history_page(
    subject: Subject, before: tuple[datetime, int] | None = None
) -> tuple[list[FlaggedItem], str]:
    """A page of the history, and the cursor of the page after it ("" if it is the last)."""
    found = selectors.subject_history(subject, limit=HISTORY_PAGE + 1, before=before)
    history = found[:HISTORY_PAGE]
    if len(found) <= HISTORY_PAGE:
        return history, ""
    return history, f"{history[-1].flagged_at.isoformat()}_{history[-1].pk}"


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
    request: SignedInRequest,
    subject: Subject,
    history: list[FlaggedItem],
    *,
    actions: Any,
    real: bool = False,
    older: str = "",
    paged: bool = False,
    status: int = 200,
    **decide_all: Any,
) -> HttpResponse:
    """The page; `real` for a user's own page (not a golden item's stand-in), where seniors
    and admins get "Decide all pending"; `decide_all` keeps that form's input and error."""
    for item in history:
        # The one decision that counts for the item (CONTRACT §6 v2): the latest final one
        # neither undone nor overturned; the others stay listed, marked as what they became.
        item.standing_final = next(  # type: ignore[attr-defined]
            (d for d in reversed(item.decisions.all()) if d.voided_at is None and d.is_final),
            None,
        )
    can_act = user_has_role(request.user, Role.SENIOR)
    pending = bulk.subject_pending(subject=subject, user=request.user) if can_act and real else None
    return render(
        request,
        "moderation/subject.html",
        {
            "subject": subject,
            "history": history,
            "history_older": older,
            "history_paged": paged,
            "window_days": thresholds_for(subject.organization).window_days,
            "actions": actions,
            "can_act": can_act,
            "action_kinds": ActionKind.choices,
            "pending": pending,
            "categories": [(category, None) for category in selectors.decision_categories()],
            "checked": set(),
            **decide_all,
        },
        status=status,
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


def _decide_all_input(
    request: SignedInRequest,
) -> tuple[Verdict | None, list[PolicyCategory], str, str]:
    """The verdict, categories and note sent, and what is wrong with them ("" if nothing)."""
    chosen = request.POST.get("verdict", "")
    verdict = Verdict(chosen) if chosen in Verdict.values else None
    values = request.POST.getlist("categories")
    ids = {int(v) for v in values if v.isdigit()}
    categories = list(PolicyCategory.objects.filter(pk__in=ids).order_by("pk"))
    note = request.POST.get("note", "")
    if len(ids) != len(values) or len(categories) != len(ids):
        return verdict, categories, note, "Choose policy categories from the list."
    try:
        bulk.decide_all_check(verdict=verdict, categories=categories, note=note)
    except review.DecisionInvalid as invalid:
        return verdict, categories, note, invalid.message
    return verdict, categories, note, ""


@role_required(Role.SENIOR)
@require_POST
def subject_decide_all(
    request: SignedInRequest, organization: str, user_id_hash: str
) -> HttpResponse:
    """ "Decide all pending": one verdict, categories and note for every item of the user
    still waiting that the senior may decide. The first POST shows how many items will be
    decided and which are left out, changing nothing; the one with `confirmed=1` decides
    each on its own (services/bulk.py)."""
    subject = subject_for_reviewer(request, organization, user_id_hash)
    verdict, categories, note, error = _decide_all_input(request)
    if error or verdict is None:
        history, older = _history_page(subject)
        return _subject_page(
            request,
            subject,
            history,
            actions=selectors.subject_actions(subject),
            real=True,
            older=older,
            status=422,
            decide_all_error=error,
            decide_all_verdict=request.POST.get("verdict", ""),
            checked={c.pk for c in categories},
            decide_all_note=note,
        )
    if request.POST.get("confirmed") != "1":
        return render(
            request,
            "moderation/confirm_decide_all.html",
            {
                "subject": subject,
                "pending": bulk.subject_pending(subject=subject, user=request.user),
                "verdict": verdict,
                "verdict_label": Verdict(verdict).label,
                "chosen": categories,
                "note": note,
            },
        )
    result = bulk.subject_decide_all(
        subject=subject, user=request.user, verdict=verdict, categories=categories, note=note
    )
    count = len(result.decided)
    messages.success(
        request,
        f"{count} item{'s' if count != 1 else ''} decided as {Verdict(verdict).label}, "
        "each its own decision.",
    )
    if result.skipped:
        listed = "; ".join(f"#{item.pk}: {why}" for item, why in result.skipped)
        messages.info(request, f"{len(result.skipped)} left as they were: {listed}.")
    return redirect("subject", organization=organization, user_id_hash=user_id_hash)
