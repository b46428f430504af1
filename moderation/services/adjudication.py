"""Adjudication: a senior or admin settles a blind second review's disagreement (issue 10,
CONTRACT §6 v2).

A disagreement waits in the escalated queue with the first decision still standing, but not
counted. The senior's final verdict becomes the item's decision: the first decision is voided
as replaced by the adjudication, the second review is settled, and the subject's figures and
actions follow as after any decision. The two reviewers whose answers differ may not settle
it themselves (four eyes).

An adjudication is not undone: it ends a disagreement that two reviewers could not, and
taking it back would have to bring back the first decision and the disagreement at once.
A senior corrects one by overturning it, as any final decision.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from moderation.models import (
    AuditAction,
    Decision,
    FlaggedItem,
    ItemState,
    PolicyCategory,
    SecondReview,
    SecondReviewState,
    Verdict,
    VoidReason,
)
from moderation.services.audit import audit_record
from moderation.services.enforcement import enforcement_evaluate
from moderation.services.review import (
    ClaimConflict,
    DecisionInvalid,
    _check,
    _refusal,
    category_slugs,
    decision_replace,
)

FOUR_EYES = (
    "You gave one of the two answers in this disagreement; another senior or admin "
    "settles it. Your decision was not recorded."
)
NO_ESCALATION = "A disagreement is settled here: choose Violation or No violation."
NO_UNDO = (
    "An adjudication cannot be undone; a senior or admin can overturn the decision to correct it."
)


def disagreement_of(*, item: FlaggedItem) -> SecondReview | None:
    """The item's second review waiting for a senior's adjudication, if any."""
    return (
        SecondReview.objects.filter(item_id=item.pk, state=SecondReviewState.DISAGREED)
        .select_related("reviewer", "first_decision__reviewer")
        .first()
    )


def adjudication_refusal(*, review: SecondReview, user: User) -> str | None:
    """Why the user may not settle this disagreement (four eyes), or None: for the service and
    the page alike."""
    if user.pk in (review.first_decision.reviewer_id, review.reviewer_id):
        return FOUR_EYES
    return None


def is_adjudication(decision: Decision) -> bool:
    return SecondReview.objects.filter(adjudication_id=decision.pk).exists()


def _answer(reviewer: User | None, verdict: str, categories: Sequence[PolicyCategory]) -> dict:
    return {
        "reviewer": reviewer.get_username() if reviewer else "",
        "verdict": verdict,
        "categories": category_slugs(categories),
    }


@transaction.atomic
def adjudication_record(
    *,
    item: FlaggedItem,
    senior: User,
    verdict: Verdict,
    categories: Sequence[PolicyCategory],
    note: str,
) -> Decision:
    """Settle the item's disagreement with the senior's final verdict; the new decision.

    Raises ClaimConflict (nothing recorded) when the item takes no decision from this user
    (not a senior, held by someone else, already settled) or the user gave one of the two
    answers; DecisionInvalid (field, message) for an escalation, or the verdict, categories
    or note as any decision checks them.
    """
    if verdict == Verdict.ESCALATE:
        raise DecisionInvalid("verdict", NO_ESCALATION)
    _check(verdict, categories, note)
    now = timezone.now()
    locked = (
        FlaggedItem.objects.select_for_update(of=("self",))
        .select_related("claimed_by")
        .get(pk=item.pk)
    )
    refusal = _refusal(locked, senior)
    if refusal is not None:
        raise ClaimConflict(refusal)
    review = (
        SecondReview.objects.select_for_update(of=("self",))
        .select_related("reviewer", "first_decision__reviewer")
        .filter(item=locked, state=SecondReviewState.DISAGREED)
        .first()
    )
    if review is None:
        raise ClaimConflict("This disagreement has been settled; your decision was not recorded.")
    refusal = adjudication_refusal(review=review, user=senior)
    if refusal is not None:
        raise ClaimConflict(refusal)

    first = Decision.objects.select_for_update().get(pk=review.first_decision_id)
    first_categories = list(first.categories.all())
    second_categories = list(review.categories.all())
    claimed_at = locked.held_since(senior.pk, now)
    decision = decision_replace(
        first,
        locked,
        by=senior,
        reason=VoidReason.ADJUDICATED,
        verdict=verdict,
        categories=categories,
        note=note,
        claimed_at=claimed_at,
        now=now,
    )
    review.adjudication = decision
    review.state = SecondReviewState.ADJUDICATED
    review.save(update_fields=["adjudication", "state"])

    locked.release_to(ItemState.DECIDED, decided_at=now)
    audit_record(
        actor=senior,
        action=AuditAction.ITEM_ADJUDICATE,
        item=locked,
        detail={
            "first": _answer(first.reviewer, first.verdict, first_categories),
            "second": _answer(review.reviewer, review.verdict, second_categories),
            "adjudicated": {
                "verdict": Verdict(verdict).value,
                "categories": category_slugs(categories),
            },
            "note": decision.note,
            "decision": decision.pk,
            "replaces": first.pk,
            "second_review": review.pk,
            "content_seen": decision.content_seen,
            **({"allowed_by_exception": decision.allowed_by_id} if decision.allowed_by_id else {}),
        },
    )
    if locked.gold_id is None:
        # As after any decision: the adjudication now counts, the first decision never did.
        enforcement_evaluate(subject=locked.subject, started=decision)
    return decision
