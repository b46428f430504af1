"""The audit log, for admins: read and filter, never edit."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.http import require_GET

from accounts.access import role_required
from accounts.roles import Role
from moderation.models import AuditAction, AuditEvent

PAGE = 50


@role_required(Role.ADMIN)
@require_GET
def audit_index(request: HttpRequest) -> HttpResponse:
    events = AuditEvent.objects.select_related("actor", "item", "subject__organization")
    filters = {
        "actor": request.GET.get("actor", "").strip(),
        "action": request.GET.get("action", ""),
        "item": request.GET.get("item", "").strip(),
        "since": request.GET.get("since", ""),
        "until": request.GET.get("until", ""),
    }
    if filters["actor"]:
        if filters["actor"] == "system":
            events = events.filter(actor__isnull=True)
        else:
            events = events.filter(actor__username=filters["actor"])
    if filters["action"] in AuditAction.values:
        events = events.filter(action=filters["action"])
    if filters["item"].isdigit():
        events = events.filter(item_id=int(filters["item"]))
    if since := _day(filters["since"]):
        events = events.filter(at__gte=since)
    if until := _day(filters["until"]):
        events = events.filter(at__lt=until + timedelta(days=1))
    # Keyset pagination: the page after (at, id) of the last row shown.
    before = request.GET.get("before", "")
    at_text, _, id_text = before.partition("_")
    before_at = parse_datetime(at_text) if at_text else None
    if before_at is not None and id_text.isdigit():
        events = events.filter(at__lte=before_at).exclude(at=before_at, id__gte=int(id_text))
    page = list(events.order_by("-at", "-id")[: PAGE + 1])
    more = len(page) > PAGE
    page = page[:PAGE]
    next_cursor = f"{page[-1].at.isoformat()}_{page[-1].pk}" if more and page else ""
    return render(
        request,
        "moderation/audit.html",
        {
            "events": page,
            "filters": filters,
            "actions": AuditAction.choices,
            "next_cursor": next_cursor,
            "users": get_user_model()
            .objects.order_by("username")
            .values_list("username", flat=True),
        },
    )


def _day(text: str) -> datetime | None:
    day = parse_date(text) if text else None
    if day is None:
        return None
    return timezone.make_aware(datetime(day.year, day.month, day.day))
