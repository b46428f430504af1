"""The audit log, for admins: read and filter, never edit."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET

from accounts.access import role_required
from accounts.roles import Role
from moderation.models import AuditAction, AuditEvent
from moderation.views._types import SignedInRequest

PAGE = 50
# A PostgreSQL bigint: a larger "item" would fail in the database rather than match nothing.
BIGINT_MAX = 2**63 - 1
DATE_MESSAGE = "%(field)s is a date, YYYY-MM-DD, such as 2026-03-31."


class AuditFilters(forms.Form):
    """The filters as typed into the address bar as much as into the form: anything may come."""

    actor = forms.CharField(required=False, max_length=150)
    action = forms.ChoiceField(
        required=False,
        choices=[("", "Any"), *AuditAction.choices],
        error_messages={"invalid_choice": "%(value)s is not one of the actions listed."},
    )
    item = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=BIGINT_MAX,
        error_messages={
            "invalid": "Item is an item number, such as 1234.",
            "min_value": "Item is an item number, such as 1234.",
            "max_value": "Item is an item number, such as 1234.",
        },
    )
    since = forms.DateField(
        required=False,
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": DATE_MESSAGE % {"field": "From"}},
    )
    until = forms.DateField(
        required=False,
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": DATE_MESSAGE % {"field": "Until"}},
    )
    before = forms.CharField(required=False, max_length=100)

    def clean_before(self) -> tuple[datetime, int] | None:
        """The keyset cursor "<at>_<id>" of the last row shown, as the page wrote it."""
        text = self.cleaned_data["before"]
        if not text:
            return None
        at_text, _, id_text = text.rpartition("_")
        try:
            at = parse_datetime(at_text)
        except ValueError:
            at = None
        if at is None or not id_text.isascii() or not id_text.isdigit():
            raise forms.ValidationError(
                "This link to older events is broken. Start again from the newest events."
            )
        return at, int(id_text)


def _filtered(filters: dict[str, Any]) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.select_related("actor", "item", "subject__organization")
    actor = filters["actor"].strip()
    if actor == "system":
        events = events.filter(actor__isnull=True)
    elif actor:
        events = events.filter(actor__username=actor)
    if filters["action"]:
        events = events.filter(action=filters["action"])
    if filters["item"] is not None:
        events = events.filter(item_id=filters["item"])
    if filters["since"] is not None:
        events = events.filter(at__gte=_midnight(filters["since"]))
    if filters["until"] is not None:
        events = events.filter(at__lt=_midnight(filters["until"]) + timedelta(days=1))
    if filters["before"] is not None:
        before_at, before_id = filters["before"]
        events = events.filter(at__lte=before_at).exclude(at=before_at, id__gte=before_id)
    return events


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day))


def detail_words(value: Any) -> str:
    """Any JSON value of an event's detail, in words: lists joined, dicts as "key value"."""
    if value is None or value == [] or value == {}:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(detail_words(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {detail_words(v)}" for k, v in value.items())
    return str(value)


def detail_pairs(detail: Any) -> list[tuple[str, str]]:
    """The detail as (key, words) pairs; a detail that is not an object is one unnamed pair.

    Built here rather than with `detail.items` in the template: Django's lookup finds a key
    named "items" first (an erasure's count), and iterating that int was a 500.
    """
    if isinstance(detail, dict):
        return [(str(k), detail_words(v)) for k, v in detail.items()]
    if detail in (None, {}, []):
        return []
    return [("", detail_words(detail))]


@role_required(Role.ADMIN)
@require_GET
def audit_index(request: SignedInRequest) -> HttpResponse:
    form = AuditFilters(request.GET)
    # Shown back in the form as typed, to be corrected (less any NUL, which HTML cannot hold).
    typed = {
        name: request.GET.get(name, "").replace("\x00", "")
        for name in ("actor", "action", "item", "since", "until")
    }
    events: list[AuditEvent] = []
    next_cursor = ""
    if form.is_valid():
        page = list(_filtered(form.cleaned_data).order_by("-at", "-id")[: PAGE + 1])
        more = len(page) > PAGE
        events = page[:PAGE]
        if more and events:
            next_cursor = f"{events[-1].at.isoformat()}_{events[-1].pk}"
        for event in events:
            event.pairs = detail_pairs(event.detail)  # type: ignore[attr-defined]
    # Each message quotes what was typed: a date field drops a value it cannot read.
    errors = {
        name: (f"“{typed[name]}”: " if typed.get(name) else "") + " ".join(map(str, messages))
        for name, messages in form.errors.items()
    }
    return render(
        request,
        "moderation/audit.html",
        {
            "events": events,
            "filters": typed,
            "errors": errors,
            "actions": AuditAction.choices,
            "next_cursor": next_cursor,
            "users": get_user_model()
            .objects.order_by("username")
            .values_list("username", flat=True),
        },
        status=400 if errors else 200,
    )
