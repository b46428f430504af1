"""The queue overview and "Review next"."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.access import role_required
from accounts.roles import Role, user_has_role
from moderation import selectors
from moderation.access import item_for_reviewer
from moderation.models import Decision, FlaggedItem, ReviewQueue
from moderation.services import claims, gold_serving
from moderation.services.undo import undoable_decision, undoable_fresh
from moderation.views._types import SignedInRequest

# The queue the reviewer chose with "Review next" ("" for every queue they may review): after
# each decision, skip or undo the next item comes from there, wherever the decided item was.
CHOSEN_QUEUE = "review_queue"


def chosen_queue(request: SignedInRequest) -> ReviewQueue | None:
    chosen = request.session.get(CHOSEN_QUEUE, "")
    return ReviewQueue(chosen) if chosen in ReviewQueue.values else None


def queue_url(queue: ReviewQueue | None) -> str:
    return reverse("queue") + (f"?queue={queue.value}" if queue else "")


def queue_scope(queue: ReviewQueue | None) -> str:
    return f"in the {queue.label} queue" if queue else "in any of your queues"


def queue_empty_message(queue: ReviewQueue | None) -> str:
    return f"Queue empty: nothing is waiting for you {queue_scope(queue)} right now."


# After a wrong answer on a golden item: what the next page tells the reviewer, once.
CHECK_FEEDBACK = "check_feedback"


def check_feedback_keep(request: SignedInRequest, decision: Decision) -> None:
    """Keep the expected answer for the next page when the decision was a wrong one on a
    golden item whose set has feedback on (services/gold_serving.py)."""
    result = gold_serving.gold_feedback(decision)
    if result is None:
        request.session.pop(CHECK_FEEDBACK, None)
        return
    request.session[CHECK_FEEDBACK] = {
        "verdict": "Violation" if result.expected_verdict == "violation" else "No violation",
        "categories": [c.name for c in result.expected_categories],
        "note": result.note,
    }


def check_feedback_pop(request: SignedInRequest) -> dict[str, object] | None:
    """The feedback waiting for the page being rendered, taken so it is shown once."""
    if CHECK_FEEDBACK not in request.session:
        return None  # no session write on the hot path when nothing waits
    feedback: dict[str, object] | None = request.session.pop(CHECK_FEEDBACK)
    return feedback


def undo_offer(
    request: SignedInRequest,
    *,
    besides: FlaggedItem | None = None,
    fresh: Decision | None = None,
) -> Decision | None:
    """The user's latest decision they may still undo, for the bar ("You decided item 17").
    `fresh`: the decision this request has just recorded, which is that decision unless
    something says otherwise (`undoable_fresh`): four queries less after each decision."""
    decision = (
        undoable_fresh(decision=fresh, user=request.user)
        if fresh is not None
        else undoable_decision(user=request.user)
    )
    if decision is None or (besides is not None and decision.item_id == besides.pk):
        return None
    return decision


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return redirect("queue")


@role_required(Role.REVIEWER)
@require_GET
def queue_index(request: SignedInRequest) -> HttpResponse:
    allowed = claims.reviewable_queues(request.user)
    shown = request.GET.get("queue", "")
    if shown not in [q.value for q in allowed]:
        shown = ""
    now = timezone.now()
    items = selectors.pending_items(queue=shown or None, queues=allowed, limit=25)
    return render(
        request,
        "moderation/queue.html",
        {
            "summaries": selectors.queue_summaries(allowed, now=now),
            "items": selectors.sla_marked(items, now=now),
            "now": now,
            "shown": shown,
            "shown_label": ReviewQueue(shown).label if shown else "",
            "held": claims.claim_held(user=request.user),
            "undo_offer": undo_offer(request),
            "check_feedback": check_feedback_pop(request),
            **_held_section(request.user),
        },
    )


HELD_SHOWN = 100


def _held_section(user: User) -> dict[str, object]:
    """Seniors and admins see who holds which item (golden servings left out)."""
    if not user_has_role(user, Role.SENIOR):
        return {}
    rows, rest = selectors.held_items(limit=HELD_SHOWN)
    return {"held_items": rows, "held_rest": rest, "held_section": True, "now": timezone.now()}


@role_required(Role.SENIOR)
@require_POST
def item_release(request: SignedInRequest, pk: int) -> HttpResponse:
    """A senior or admin gives back an item someone holds; it returns to its queue."""
    item = item_for_reviewer(request, pk)
    holder = item.claimed_by.get_username() if item.claimed_by else ""
    if claims.claim_release_by_senior(item=item, user=request.user):
        messages.success(request, f"Released item #{item.pk}: {holder} no longer holds it.")
    else:
        messages.info(request, f"Item #{item.pk} is no longer held by anyone: nothing changed.")
    return redirect("queue")


@role_required(Role.REVIEWER)
@require_POST
def queue_next(request: SignedInRequest) -> HttpResponse:
    """Claim the next item from the queue the reviewer chose (every queue they may review
    when none) and open it; the choice holds for the rest of the session."""
    requested = request.POST.get("queue", "")
    allowed = [q.value for q in claims.reviewable_queues(request.user)]
    queue = ReviewQueue(requested) if requested in allowed else None
    choice = queue.value if queue else ""
    if request.session.get(CHOSEN_QUEUE, "") != choice:
        # Written only when it changes: a session write is three more queries on a hot path.
        request.session[CHOSEN_QUEUE] = choice
    item = claims.claim_next(
        user=request.user, queue=queue, skipped=request.session.get("skipped", [])
    )
    if item is None:
        messages.info(request, queue_empty_message(queue))
        return redirect(queue_url(queue))
    return redirect("item", pk=item.pk)
