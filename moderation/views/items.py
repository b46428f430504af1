"""The item page: read, decide, and get the next item in place."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import push_url

from accounts.roles import Role, user_has_role
from moderation import selectors
from moderation.access import item_for_reviewer
from moderation.models import (
    Decision,
    FlaggedItem,
    ItemState,
    PolicyCategory,
    ReviewQueue,
    Severity,
    Signal,
    Subject,
    Verdict,
)
from moderation.services import (
    adjudication,
    claims,
    gold_serving,
    policy,
    reveals,
    second_review,
)
from moderation.services.conversations import item_conversation
from moderation.services.pii import pii_spans
from moderation.services.review import (
    ClaimConflict,
    DecisionInvalid,
    OverturnRefused,
    decision_overturn,
    decision_record,
)
from moderation.services.undo import UndoRefused, decision_undo, decision_undoable, undo_window
from moderation.views._types import SignedInRequest
from moderation.views.queue import (
    check_feedback_keep,
    check_feedback_pop,
    chosen_queue,
    queue_empty_message,
    queue_scope,
    queue_url,
    undo_offer,
)

# Items a reviewer skipped come after every other item for the next few claims.
SKIPPED_KEPT = 50
# Keys of the categories of the decision form, in its fixed order: the digits for the first
# ten, Shift and a digit for the next ten, so every category of the policy has its own key.
CATEGORY_KEYS = [*"1234567890", *(f"shift+{d}" for d in "1234567890")]
# A category id as the form sends it: ASCII digits only ("²" and "١" pass str.isdigit but
# are no id), and short enough for the database's integer.
CATEGORY_ID = re.compile(r"[0-9]{1,9}")


class UnknownCategory(ValueError):
    pass


def _revealed(request: SignedInRequest) -> set[int]:
    return set(request.session.get("revealed", []))


def _content_hidden(item: FlaggedItem, signals: list[Signal], request: SignedInRequest) -> bool:
    """Text in a critical category is not sent to the browser until the reviewer chooses
    "Show content" (the reveal is logged): hiding it with CSS alone would record a click,
    not access."""
    critical = any(s.category.severity == Severity.CRITICAL for s in signals)
    return critical and item.pk not in _revealed(request)


def _subject_shown(item: FlaggedItem) -> tuple[Subject, list[FlaggedItem]]:
    """The subject panel's user and their last items. A golden item's reserved subject is
    nobody, and its other servings would give it away: the panel shows a user of its own
    (an unsaved stand-in with a hash of 64 hex digits, no figures, no other items), as a
    real item's first flag looks."""
    if item.gold_id is None:
        return item.subject, selectors.subject_recent(item.subject, besides=item.pk)
    return gold_serving.stand_in(item), []


def _disagreement(request: SignedInRequest, item: FlaggedItem) -> dict[str, object]:
    """A blind second review's disagreement on an escalated item: both answers for the senior
    who settles it; neither of the two reviewers is offered the decision (four eyes)."""
    review = (
        adjudication.disagreement_of(item=item) if item.queue == ReviewQueue.ESCALATED else None
    )
    if review is None:
        return {"disagreement": None}
    refusal = adjudication.adjudication_refusal(review=review, user=request.user)
    return {
        "disagreement": review,
        "disagreement_refusal": refusal,
        **({"can_decide": False} if refusal else {}),
    }


def item_context(
    request: SignedInRequest,
    item: FlaggedItem,
    *,
    fresh: Decision | None = None,
    **extra: object,
) -> dict[str, object]:
    """What the item page and its partial show. `fresh`: the decision this request has just
    recorded on another item, for the undo bar (`undo_offer`)."""
    signals = list(selectors.item_signals(item))
    # Blind second review: while a second answer waits, the item looks like a fresh one to
    # everyone (no decisions, no overturn, no undo here; services/second_review.py). A
    # waiting review has a first decision on the item: without one there is nothing to ask.
    decisions = selectors.item_decisions(item)
    if decisions and second_review.is_blind(item):
        decisions = []
    holds = item.state == ItemState.CLAIMED and item.claimed_by_id == request.user.pk
    escalation = None
    if item.queue == ReviewQueue.ESCALATED:
        escalations = [
            d for d in decisions if d.verdict == Verdict.ESCALATE and d.voided_at is None
        ]
        escalation = escalations[-1] if escalations else None
    is_senior = user_has_role(request.user, Role.SENIOR)
    mine = [d for d in decisions if d.reviewer_id == request.user.pk and d.voided_at is None]
    undoable_here = (
        mine[-1]
        if mine and decision_undoable(decision=mine[-1], user=request.user, item=item)
        else None
    )
    subject, history = _subject_shown(item)
    conversation = item_conversation(item)
    return {
        "item": item,
        "signals": signals,
        "categories": [
            (category, CATEGORY_KEYS[n] if n < len(CATEGORY_KEYS) else "")
            for n, category in enumerate(selectors.decision_categories())
        ],
        "flagged_ids": {s.category_id for s in signals},
        "hidden": _content_hidden(item, signals, request),
        "holds_claim": holds,
        "can_decide": holds or item.state in (ItemState.PENDING, ItemState.ESCALATED),
        "can_escalate": item.queue != ReviewQueue.ESCALATED,
        **_disagreement(request, item),
        "escalation": escalation,
        "decisions": decisions,
        "can_overturn": is_senior and item.state == ItemState.DECIDED,
        "subject": subject,
        "history": history,
        "exceptions": policy.exceptions_active(organization_id=item.organization_id),
        "conversation": conversation,
        "has_pii": bool(
            pii_spans(item.prompt)
            or pii_spans(item.response)
            or (conversation is not None and conversation.has_pii())
        ),
        "pii_revealed": item.pk in set(request.session.get("pii_revealed", [])),
        # Undo for a decision on this item sits in its history; the bar offers the latest
        # decision on another item (the one just decided, when this is the next).
        "undoable_id": undoable_here.pk if undoable_here else None,
        "undo_offer": None if undoable_here else undo_offer(request, besides=item, fresh=fresh),
        "undo_minutes": max(1, int(undo_window().total_seconds() // 60)),
        **extra,
    }


def _render_item(
    request: SignedInRequest, item: FlaggedItem, *, status: int = 200, **extra: Any
) -> HttpResponse:
    template = "moderation/_item.html" if request.htmx else "moderation/item.html"
    return render(request, template, item_context(request, item, **extra), status=status)


def _invalid(
    request: SignedInRequest, item: FlaggedItem, error: str, **kept: object
) -> HttpResponse:
    """The item again with the form as it was sent and what is wrong with it (422)."""
    return _render_item(request, item, status=422, error=error, **kept)


def _categories(values: list[str]) -> list[PolicyCategory]:
    """The chosen categories; UnknownCategory for any value that is not one's id."""
    if not all(CATEGORY_ID.fullmatch(v) for v in values):
        raise UnknownCategory
    ids = {int(v) for v in values}
    categories = list(PolicyCategory.objects.filter(pk__in=ids))
    if len(categories) != len(ids):
        raise UnknownCategory
    return categories


@login_required
@require_GET
def item_detail(request: SignedInRequest, pk: int) -> HttpResponse:
    item = item_for_reviewer(request, pk)
    reveals.item_viewed(item=item, user=request.user)
    return _render_item(request, item, check_feedback=check_feedback_pop(request))


def _next_response(request: SignedInRequest, *, fresh: Decision | None = None) -> HttpResponse:
    """After a decision or a skip: the next item from the queue the reviewer chose,
    claimed and shown in place, or "Queue empty" when none of those queues holds one.
    `fresh`: the decision just recorded, if any (for the undo bar)."""
    queue = chosen_queue(request)
    item = claims.claim_next(
        user=request.user, queue=queue, skipped=request.session.get("skipped", [])
    )
    if item is None:
        if not request.htmx:
            messages.info(request, queue_empty_message(queue))
            return redirect(queue_url(queue))
        response = render(
            request,
            "moderation/_queue_empty.html",
            {
                "queue": queue,
                "where": queue_scope(queue),
                "undo_offer": undo_offer(request, fresh=fresh),
                "check_feedback": check_feedback_pop(request),
            },
        )
        return push_url(response, queue_url(queue))
    if not request.htmx:
        return redirect("item", pk=item.pk)
    # The partial shows the item's organization and its subject's: one query for the three,
    # as item_for_reviewer reads them for the page.
    item = FlaggedItem.objects.select_related("organization", "subject__organization").get(
        pk=item.pk
    )
    reveals.item_viewed(item=item, user=request.user)
    # claim_next offers a skipped item only once nothing else waits: say so.
    again = item.pk in request.session.get("skipped", [])
    response = render(
        request,
        "moderation/_item.html",
        item_context(
            request,
            item,
            fresh=fresh,
            offered_again=again,
            check_feedback=check_feedback_pop(request),
        ),
    )
    return push_url(response, reverse("item", args=[item.pk]))


@login_required
@require_POST
def item_decide(request: SignedInRequest, pk: int) -> HttpResponse:
    """Violation, No violation, Escalate or Skip; then the next item."""
    item = item_for_reviewer(request, pk)
    action = request.POST.get("verdict", "")
    if action == "skip":
        claims.claim_release(item=item, user=request.user)
        earlier = [p for p in request.session.get("skipped", []) if p != item.pk]
        request.session["skipped"] = [item.pk, *earlier][:SKIPPED_KEPT]
        return _next_response(request)
    if action not in Verdict.values:
        return _invalid(request, item, "Choose Violation, No violation, Escalate or Skip.")
    note = request.POST.get("note", "")
    values = request.POST.getlist("categories")
    try:
        categories = _categories(values)
    except UnknownCategory:
        return _invalid(request, item, "An unknown policy category was chosen.", note=note)
    try:
        decision = decision_record(
            item=item,
            reviewer=request.user,
            verdict=Verdict(action),
            categories=categories,
            note=note,
        )
    except DecisionInvalid as invalid:
        return _invalid(request, item, str(invalid), note=note, checked={c.pk for c in categories})
    except ClaimConflict as conflict:
        item.refresh_from_db()
        return _render_item(request, item, status=409, conflict=str(conflict))
    if item.gold_id is not None:
        check_feedback_keep(request, decision)
    return _next_response(request, fresh=decision)


@login_required
@require_POST
def item_lease(request: SignedInRequest, pk: int) -> HttpResponse:
    """Renew the lease while the page is open (htmx polls this); 409 once it is lost."""
    item = item_for_reviewer(request, pk)
    if claims.claim_renew(item=item, user=request.user):
        return HttpResponse(status=204)
    return render(request, "moderation/_lease_lost.html", {"item": item}, status=409)


@login_required
@require_POST
def item_reveal(request: SignedInRequest, pk: int) -> HttpResponse:
    """Send the text of an item in a critical category, which the page holds back until the
    reviewer asks for it; audited."""
    item = item_for_reviewer(request, pk)
    reveals.content_reveal(item=item, user=request.user)
    request.session["revealed"] = [item.pk, *request.session.get("revealed", [])][:200]
    if request.htmx:
        return _render_item(request, item)
    return redirect("item", pk=item.pk)


@login_required
@require_POST
def item_reveal_pii(request: SignedInRequest, pk: int) -> HttpResponse:
    """Show the personal data masked in this item; who, when and why go to the audit log."""
    item = item_for_reviewer(request, pk)
    try:
        reveals.pii_reveal(item=item, user=request.user, reason=request.POST.get("reason", ""))
    except reveals.RevealInvalid as invalid:
        return _invalid(request, item, str(invalid))
    request.session["pii_revealed"] = [item.pk, *request.session.get("pii_revealed", [])][:200]
    if request.htmx:
        return _render_item(request, item)
    return redirect("item", pk=item.pk)


@login_required
@require_POST
def item_undo(request: SignedInRequest, pk: int) -> HttpResponse:
    """Take back the user's own decision on this item while it may be undone: the item
    comes back to them undecided, and the next item they were given goes back to its queue."""
    item = item_for_reviewer(request, pk)
    decision = selectors.undo_candidate(item=item, user=request.user)
    try:
        if decision is None:
            raise UndoRefused("You have no decision on this item to undo.")
        item = decision_undo(decision=decision, user=request.user)
    except UndoRefused as refused:
        item.refresh_from_db()
        return _render_item(request, item, status=409, conflict=str(refused))
    if not request.htmx:
        return redirect("item", pk=item.pk)
    # The partial shows the item's organization and its subject's: one query for the three,
    # as item_for_reviewer reads them for the page.
    item = FlaggedItem.objects.select_related("organization", "subject__organization").get(
        pk=item.pk
    )
    reveals.item_viewed(item=item, user=request.user)
    response = render(request, "moderation/_item.html", item_context(request, item))
    return push_url(response, reverse("item", args=[item.pk]))


@login_required
@require_POST
def item_overturn(request: SignedInRequest, pk: int) -> HttpResponse:
    """A senior or admin replaces the final decision with a new one, with a note."""
    item = item_for_reviewer(request, pk)
    if not user_has_role(request.user, Role.SENIOR):
        raise PermissionDenied("Only seniors and admins overturn decisions.")
    verdict = request.POST.get("verdict", "")
    note = request.POST.get("note", "")
    kept = {"overturn_note": note, "overturn_verdict": verdict}
    if verdict not in (Verdict.VIOLATION, Verdict.NO_VIOLATION):
        return _invalid(request, item, "Choose the new verdict: Violation or No violation.", **kept)
    try:
        categories = _categories(request.POST.getlist("categories"))
    except UnknownCategory:
        return _invalid(request, item, "An unknown policy category was chosen.", **kept)
    try:
        decision_overturn(
            item=item, user=request.user, verdict=Verdict(verdict), categories=categories, note=note
        )
    except DecisionInvalid as invalid:
        checked = {c.pk for c in categories}
        return _invalid(request, item, str(invalid), overturn_checked=checked, **kept)
    except OverturnRefused as refused:
        item.refresh_from_db()
        return _render_item(request, item, status=409, conflict=str(refused))
    item.refresh_from_db()
    if not request.htmx:
        messages.success(request, "Overturned: the new decision is the final one.")
        return redirect("item", pk=item.pk)
    return _render_item(request, item, notice="Overturned: the new decision is the final one.")
