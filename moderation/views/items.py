"""The item page: read, decide, and get the next item in place."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import push_url

from moderation.access import item_for_reviewer
from accounts.roles import Role, user_has_role
from moderation import selectors
from moderation.models import (
    AuditAction,
    FlaggedItem,
    ItemState,
    PolicyCategory,
    ReviewQueue,
    Severity,
    Verdict,
)
from moderation.services import claims, policy
from moderation.services.audit import audit_record
from moderation.services.pii import pii_spans
from moderation.services.review import ClaimConflict, DecisionInvalid, decision_record

# Items a reviewer skipped stay out of their way for the next few claims.
SKIPPED_KEPT = 50


def _revealed(request: HttpRequest) -> set[int]:
    return set(request.session.get("revealed", []))


def item_context(request: HttpRequest, item: FlaggedItem, **extra: object) -> dict[str, object]:
    signals = list(selectors.item_signals(item))
    flagged = [s.category_id for s in signals]
    categories = sorted(
        selectors.decision_categories(),
        key=lambda c: (c.pk not in flagged, flagged.index(c.pk) if c.pk in flagged else 0, c.name),
    )
    critical = any(s.category.severity == Severity.CRITICAL for s in signals)
    holds = item.state == ItemState.CLAIMED and item.claimed_by_id == request.user.pk
    return {
        "item": item,
        "signals": signals,
        "categories": categories,
        "flagged_ids": set(flagged),
        "blurred": critical and item.pk not in _revealed(request),
        "holds_claim": holds,
        "can_decide": holds or item.state in (ItemState.PENDING, ItemState.ESCALATED),
        "subject": item.subject,
        "history": [
            i for i in selectors.subject_history(item.subject, limit=11) if i.pk != item.pk
        ][:10],
        "verdicts": Verdict,
        "exceptions": policy.exceptions_active(organization_id=item.organization_id),
        "has_pii": bool(pii_spans(item.prompt) or pii_spans(item.response)),
        "pii_revealed": item.pk in set(request.session.get("pii_revealed", [])),
        **extra,
    }


def _render_item(
    request: HttpRequest, item: FlaggedItem, *, status: int = 200, **extra: object
) -> HttpResponse:
    template = "moderation/_item.html" if request.htmx else "moderation/item.html"
    return render(request, template, item_context(request, item, **extra), status=status)


@login_required
@require_GET
def item_detail(request: HttpRequest, pk: int) -> HttpResponse:
    item = item_for_reviewer(request, pk)
    audit_record(actor=request.user, action=AuditAction.ITEM_VIEW, item=item)
    return _render_item(request, item)


def _next_response(request: HttpRequest, queue: ReviewQueue | None) -> HttpResponse:
    """After a decision or a skip: the next claimed item in place, or the empty queue."""
    item = claims.claim_next(
        user=request.user, queue=queue, skipped=request.session.get("skipped", [])
    )
    if item is None:
        if not request.htmx:
            messages.info(request, "Queue empty: nothing is waiting for you right now.")
            return redirect("queue")
        response = render(request, "moderation/_queue_empty.html", {})
        return push_url(response, reverse("queue"))
    if not request.htmx:
        return redirect("item", pk=item.pk)
    audit_record(actor=request.user, action=AuditAction.ITEM_VIEW, item=item)
    response = render(request, "moderation/_item.html", item_context(request, item))
    return push_url(response, reverse("item", args=[item.pk]))


@login_required
@require_POST
def item_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """Violation, No violation, Escalate or Skip; then the next item."""
    item = item_for_reviewer(request, pk)
    action = request.POST.get("verdict", "")
    queue = item.queue if item.queue != ReviewQueue.ESCALATED else None
    if action == "skip":
        claims.claim_release(item=item, user=request.user)
        skipped = [item.pk, *request.session.get("skipped", [])][:SKIPPED_KEPT]
        request.session["skipped"] = skipped
        return _next_response(request, ReviewQueue(queue) if queue else None)
    if action not in Verdict.values:
        return _render_item(
            request, item, status=422, error="Choose Violation, No violation, Escalate or Skip."
        )
    ids = [int(v) for v in request.POST.getlist("categories") if v.isdigit()]
    categories = list(PolicyCategory.objects.filter(pk__in=ids))
    if len(categories) != len(set(ids)):
        return _render_item(
            request, item, status=422, error="An unknown policy category was chosen."
        )
    try:
        with transaction.atomic():
            decision_record(
                item=item,
                reviewer=request.user,
                verdict=Verdict(action),
                categories=categories,
                note=request.POST.get("note", ""),
            )
    except DecisionInvalid as invalid:
        return _render_item(
            request,
            item,
            status=422,
            error=str(invalid),
            note=request.POST.get("note", ""),
            checked=set(ids),
        )
    except ClaimConflict as conflict:
        item.refresh_from_db()
        return _render_item(request, item, status=409, conflict=str(conflict))
    return _next_response(request, ReviewQueue(queue) if queue else None)


@login_required
@require_POST
def item_lease(request: HttpRequest, pk: int) -> HttpResponse:
    """Renew the lease while the page is open (htmx polls this); 409 once it is lost."""
    item = item_for_reviewer(request, pk)
    if claims.claim_renew(item=item, user=request.user):
        return HttpResponse(status=204)
    return render(request, "moderation/_lease_lost.html", {"item": item}, status=409)


@login_required
@require_POST
def item_reveal(request: HttpRequest, pk: int) -> HttpResponse:
    """Show content that is blurred because it falls in a critical category; audited."""
    item = item_for_reviewer(request, pk)
    if not user_has_role(request.user, Role.REVIEWER):
        raise PermissionDenied
    audit_record(
        actor=request.user,
        action=AuditAction.CONTENT_REVEAL,
        item=item,
        detail={"what": "critical content"},
    )
    request.session["revealed"] = [item.pk, *request.session.get("revealed", [])][:200]
    if request.htmx:
        return _render_item(request, item)
    return redirect("item", pk=item.pk)


@login_required
@require_POST
def item_reveal_pii(request: HttpRequest, pk: int) -> HttpResponse:
    """Show the personal data masked in this item; who, when and why go to the audit log."""
    item = item_for_reviewer(request, pk)
    if not user_has_role(request.user, Role.REVIEWER):
        raise PermissionDenied
    reason = request.POST.get("reason", "").strip()
    if not reason:
        return _render_item(
            request, item, status=422, error="Say why you need to see the personal data."
        )
    audit_record(
        actor=request.user,
        action=AuditAction.PII_REVEAL,
        item=item,
        detail={"reason": reason[:500]},
    )
    request.session["pii_revealed"] = [item.pk, *request.session.get("pii_revealed", [])][:200]
    if request.htmx:
        return _render_item(request, item)
    return redirect("item", pk=item.pk)
