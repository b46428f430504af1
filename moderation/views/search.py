"""/items/ (reviewers and up): find items by request id, user id hash prefix, text and
filters, a page at a time; and each user's saved searches under /items/saved/."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_POST

from accounts.access import role_required
from accounts.roles import Role
from moderation.models import (
    FlaggedItem,
    ItemState,
    Organization,
    PolicyCategory,
    ReviewQueue,
    Severity,
    Verdict,
)
from moderation.services import search
from moderation.services.pii import pii_spans
from moderation.templatetags.console import masked_from
from moderation.views._types import SignedInRequest

FIELDS = ("q", "request", "user", "organization", "category", "verdict", "state", "queue")
DATES = ("since", "until")
SNIPPET = 180
# Characters of context shown before the first word found.
LEAD = 60
WORD = re.compile(r"[^\W_]{2,}")


@dataclass
class Row:
    item: FlaggedItem
    # Critical text stays on the item page, behind "Show content" there.
    hidden: bool
    snippet: SafeString


def _critical(item: FlaggedItem) -> bool:
    return item.queue in (ReviewQueue.CRITICAL, ReviewQueue.ESCALATED) or any(
        s.category.severity == Severity.CRITICAL for s in item.signals.all()
    )


def _text_of(item: FlaggedItem) -> list[str]:
    turns = [t.get("content", "") for t in item.messages or [] if isinstance(t, dict)]
    return [t for t in [item.prompt, item.response, *turns] if isinstance(t, str) and t]


def snippet(item: FlaggedItem, words: list[str]) -> SafeString:
    """A stretch of the item's text around the first word searched for (its start when none
    is found), personal data masked in the whole text first so a cut never shows half of it,
    and the words found marked."""
    texts = _text_of(item)
    if not texts:
        return mark_safe("")
    found = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE) if words else None
    text, start = texts[0], 0
    for candidate in texts:
        match = found.search(candidate) if found else None
        if match:
            # Some context before the word, and no cut at all of a text that fits whole.
            text, start = candidate, max(0, min(match.start() - LEAD, len(candidate) - SNIPPET))
            break
    spans = pii_spans(text)
    # Never start inside a masked span: begin at the span, which is then masked whole.
    for masked in spans:
        if masked.start < start < masked.end:
            start = masked.start
    if start:
        space = text.find(" ", start, start + 20)
        start = (
            space + 1 if space != -1 and not any(s.start <= space < s.end for s in spans) else start
        )

    def plain(piece: str) -> str:
        if not found:
            return str(escape(piece))
        out, at = [], 0
        for m in found.finditer(piece):
            out += [str(escape(piece[at : m.start()])), f"<mark>{escape(m.group())}</mark>"]
            at = m.end()
        return "".join([*out, str(escape(piece[at:]))])

    cut = masked_from(text, spans, start=start, limit=SNIPPET, plain=plain)
    return mark_safe(("…" if start else "") + cut)  # noqa: S308 - masked_from escapes the text


def _row(item: FlaggedItem, words: list[str]) -> Row:
    hidden = _critical(item)
    text = mark_safe("") if hidden or item.content_erased_at else snippet(item, words)
    return Row(item=item, hidden=hidden, snippet=text)


def _context(request: SignedInRequest, data: QueryDict, **extra: Any) -> tuple[dict[str, Any], int]:
    """The page for these filters: the form as typed, its errors, and a page of results."""
    typed = {name: data.get(name, "").replace("\x00", "") for name in (*FIELDS, *DATES)}
    errors: dict[str, str] = {}
    page = None
    filters = search.SearchFilters()
    try:
        filters = search.filters_parse(data, user=request.user)
        after = search.cursor_load(data.get("after", ""))
        if not filters.empty:
            page = search.search_items(filters=filters, user=request.user, after=after)
    except search.SearchInvalid as invalid:
        errors = invalid.errors
    words = (
        [w.lower() for w in WORD.findall(filters.q)] if page and page.matched_by == "text" else []
    )
    query = filters.query_string()
    context = {
        "typed": typed,
        "errors": errors,
        "filters": filters,
        "query": query,
        "filters_pairs": filters.pairs(),
        "page": page,
        "rows": [_row(item, words) for item in page.items] if page else [],
        "next_url": f"{reverse('items-search')}?{query}&after={page.next_cursor}"
        if page and page.next_cursor
        else "",
        "first_page": bool(data.get("after")),
        "saved": search.saved_filters(request.user),
        "organizations": Organization.objects.order_by("slug").values_list("slug", "name"),
        "categories": PolicyCategory.objects.order_by("name").values_list("slug", "name"),
        "verdicts": [(v.value, v.label) for v in (Verdict.VIOLATION, Verdict.NO_VIOLATION)],
        "states": [(s, label) for s, label in ItemState.choices if s != ItemState.RETIRED],
        "queues": search.queue_choices(request.user),
        **extra,
    }
    return context, 400 if errors else 200


@role_required(Role.REVIEWER)
@require_GET
def items_search(request: SignedInRequest) -> HttpResponse:
    context, status = _context(request, request.GET)
    return render(request, "moderation/search.html", context, status=status)


@role_required(Role.REVIEWER)
@require_POST
def saved_filter_create(request: SignedInRequest) -> HttpResponse:
    """Save the search the form carries under a name; back to its results."""
    name = request.POST.get("name", "")
    try:
        filters = search.filters_parse(request.POST, user=request.user)
        saved, created = search.saved_filter_save(user=request.user, name=name, filters=filters)
    except (search.SearchInvalid, search.SavedFilterInvalid) as invalid:
        context, _ = _context(
            request, request.POST, save_error=str(invalid), save_name=name.replace("\x00", "")
        )
        return render(request, "moderation/search.html", context, status=422)
    messages.success(
        request,
        f"Saved as “{saved.name}”." if created else f"“{saved.name}” now keeps this search.",
    )
    return redirect(f"{reverse('items-search')}?{saved.query}")


@role_required(Role.REVIEWER)
@require_POST
def saved_filter_delete(request: SignedInRequest, pk: int) -> HttpResponse:
    """Delete one of the user's own saved searches; anyone else's is not found."""
    if not search.saved_filter_delete(user=request.user, pk=pk):
        raise Http404("You have no saved search with this id.")
    messages.success(request, "The saved search is deleted.")
    return redirect("items-search")
