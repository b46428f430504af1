"""The queue overview and "Review next"."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import Role, user_has_role
from moderation import selectors
from moderation.models import ReviewQueue
from moderation.services import claims


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return redirect("queue")


@login_required
@require_GET
def queue_index(request: HttpRequest) -> HttpResponse:
    if not user_has_role(request.user, Role.REVIEWER):
        return render(request, "403.html", {"reason": "Your account has no role yet."}, status=403)
    allowed = claims.reviewable_queues(request.user)
    shown = request.GET.get("queue", "")
    if shown not in [q.value for q in allowed]:
        shown = ""
    return render(
        request,
        "moderation/queue.html",
        {
            "summaries": selectors.queue_summaries(allowed),
            "items": selectors.pending_items(queue=shown or None, queues=allowed, limit=25),
            "shown": shown,
            "held": claims.claim_held(user=request.user),
        },
    )


@login_required
@require_POST
def queue_next(request: HttpRequest) -> HttpResponse:
    """Claim the next item the user may review and open it."""
    if not user_has_role(request.user, Role.REVIEWER):
        return render(request, "403.html", {"reason": "Your account has no role yet."}, status=403)
    requested = request.POST.get("queue", "")
    queue = ReviewQueue(requested) if requested in ReviewQueue.values else None
    item = claims.claim_next(
        user=request.user, queue=queue, skipped=request.session.get("skipped", [])
    )
    if item is None:
        messages.info(request, "Queue empty: nothing is waiting for you right now.")
        return redirect(reverse("queue") + (f"?queue={queue.value}" if queue else ""))
    return redirect("item", pk=item.pk)
