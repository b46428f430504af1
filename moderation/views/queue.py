"""The review queue overview."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from moderation import selectors
from moderation.models import ReviewQueue


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return redirect("queue")


@login_required
@require_GET
def queue_index(request: HttpRequest) -> HttpResponse:
    shown = request.GET.get("queue", "")
    if shown not in ReviewQueue.values:
        shown = ""
    return render(
        request,
        "moderation/queue.html",
        {
            "summaries": selectors.queue_summaries(),
            "items": selectors.pending_items(queue=shown or None),
            "shown": shown,
        },
    )
