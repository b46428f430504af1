"""Blind second review (issue 10, CONTRACT §6 v2): a share of final decisions goes to a second
reviewer who is not the first and does not see the first decision.

- Sampling (`second_review_sample`, called by `review.decision_record`): a final verdict on a
  real item, decided from a reviewer's queue (not the escalated one, whose decisions are
  already a senior's), on an item never sampled before, is sampled with probability
  `second_review_percent` / 100, or always when `second_review_all_removals` is on and,
  counting this decision, the subject's plan would propose a removal. The item goes back to
  the queue it was decided from, waiting, claimed by nobody.
- While its review is pending or disagreed, the first decision does not count: figures,
  thresholds, actions, deliveries and the training export read `Decision.objects.counted()`.
- The pool: `claims.claim_next` serves the item like any waiting one, to anyone who may review
  its queue but the first reviewer (`not_first_reviewer`); `decision_record` refuses the first
  reviewer (`first_reviewer_refusal`). A skip or a lease running out puts it back waiting.
- The second answer (`second_answer`) is kept in the `SecondReview`, never as a `Decision`.
  Agreement is the same verdict (the categories of two violations may differ: the quality
  report measures category agreement on its own). Agreed: the item is decided and the first
  decision counts from then on (recount and enforcement, as after any decision). Disagreed
  (an escalation by the second reviewer is one too): the item waits in the escalated queue
  (state ESCALATED), nothing counts until a senior adjudicates (services/adjudication.py).
- A second answer cannot be undone. The first reviewer may undo while the review is still
  waiting (`undo_check`, `undo_cancel`: the review is deleted). A senior's overturn of a
  decision whose review is pending or disagreed is final (`overturn_settle`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from moderation.models import (
    AuditAction,
    Decision,
    FlaggedItem,
    ItemState,
    PolicyCategory,
    QualitySettings,
    ReviewQueue,
    SecondReview,
    SecondReviewState,
    Subject,
    Verdict,
)
from moderation.services import sla
from moderation.services.audit import audit_record
from moderation.services.enforcement import enforcement_evaluate
from moderation.services.enforcement_plan import enforcement_plan, situations_read
from moderation.services.thresholds import Rules, thresholds_for

# The draw. Tests seed it (`rng.seed(n)`), or set the share to 0 or 100.
rng = random.Random()

FIRST_REVIEWER = (
    "You made the first decision on this item; a second reviewer decides it blind. "
    "Your decision was not recorded."
)


def second_review_drawn(*, percent: Decimal) -> bool:
    """Whether this decision is sampled: true with probability percent / 100."""
    if percent <= 0:
        return False
    if percent >= 100:
        return True
    return rng.random() * 100 < float(percent)


def pending_review(item: FlaggedItem) -> SecondReview | None:
    """The item's second review still waiting for its second answer, if any."""
    return (
        SecondReview.objects.select_related("first_decision")
        .filter(item=item, state=SecondReviewState.PENDING)
        .first()
    )


def is_blind(item: FlaggedItem) -> bool:
    """Whether the item's page must look like a fresh item's: its first decision waits for a
    second answer, so nobody viewing it sees that decision."""
    return SecondReview.objects.filter(item=item, state=SecondReviewState.PENDING).exists()


def not_first_reviewer(items: QuerySet[FlaggedItem], *, user: User) -> QuerySet[FlaggedItem]:
    """The items but those waiting for a second answer to the user's own decision."""
    own = SecondReview.objects.filter(
        item=OuterRef("pk"), state=SecondReviewState.PENDING, first_decision__reviewer=user
    )
    return items.exclude(Exists(own))


def first_reviewer_refusal(*, review: SecondReview | None, reviewer: User) -> str | None:
    """Why `decision_record` refuses the reviewer on the item whose waiting second review
    (`pending_review`) is `review`: they made its first decision."""
    if review is not None and review.first_decision.reviewer_id == reviewer.pk:
        return FIRST_REVIEWER
    return None


def _would_propose_removal(subject: Subject) -> bool:
    """Whether the subject's plan proposes a removal, counting what counts now (called while
    the new decision has no review yet, so it is counted)."""
    rules = Rules.of(thresholds_for(subject.organization))
    situation = situations_read([subject], rules=rules, now=timezone.now())[subject.pk]
    return enforcement_plan(situation=situation, rules=rules).propose


def second_review_sample(*, locked: FlaggedItem, decision: Decision) -> SecondReview | None:
    """Sample the new decision for a blind second review, or None. When sampled the item
    (locked by the caller) goes back waiting to the queue it was decided from, and the
    decision waits uncounted for the second answer."""
    if (
        not decision.is_final
        or locked.gold_id is not None
        or decision.from_queue == ReviewQueue.ESCALATED
    ):
        return None
    quality = QualitySettings.current()
    drawn = second_review_drawn(percent=quality.second_review_percent)
    if not (drawn or quality.second_review_all_removals):
        # Most decisions: not drawn, and no rule samples removals. No query.
        return None
    # An item is reviewed twice at most: once sampled, its later decisions are not.
    if SecondReview.objects.filter(item=locked).exists():
        return None
    if not (drawn or _would_propose_removal(locked.subject)):
        return None
    review = SecondReview.objects.create(item=locked, first_decision=decision)
    locked.release_to(ItemState.PENDING, queue=decision.from_queue, decided_at=None)
    return review


def second_answer(
    *,
    locked: FlaggedItem,
    review: SecondReview,
    reviewer: User,
    verdict: Verdict,
    categories: Sequence[PolicyCategory],
    note: str,
    now: datetime,
) -> SecondReview:
    """Record the second reviewer's answer on the locked item: agreed (same verdict) settles
    the item and counts the first decision; anything else is a disagreement for a senior."""
    first = review.first_decision
    claimed_at = locked.held_since(reviewer.pk, now)
    agreed = verdict == first.verdict
    review.state = SecondReviewState.AGREED if agreed else SecondReviewState.DISAGREED
    review.reviewer = reviewer
    # An escalation has no verdict to compare: it is kept as a disagreement, with its note.
    review.verdict = verdict if verdict != Verdict.ESCALATE else ""
    review.note = note.strip()
    review.claimed_at = claimed_at
    review.decided_at = now
    review.seconds_spent = max(0, int((now - claimed_at).total_seconds()))
    review.save()
    review.categories.set(categories if verdict == Verdict.VIOLATION else [])
    if agreed:
        locked.release_to(ItemState.DECIDED, decided_at=first.decided_at)
    else:
        locked.release_to(
            ItemState.ESCALATED,
            **sla.entering(queue=ReviewQueue.ESCALATED, priority=locked.priority, now=now),
        )
    audit_record(
        actor=reviewer,
        action=AuditAction.ITEM_DECIDE,
        item=locked,
        detail={
            "second_review": True,
            "review": review.pk,
            "verdict": Verdict(verdict).value,
            "categories": sorted(c.slug for c in categories),
            "outcome": review.state,
        },
    )
    if agreed:
        # The first decision counts from now on: the figures and the thresholds follow.
        enforcement_evaluate(subject=locked.subject, started=first)
    return review


def answered_since(*, user: User, since: datetime) -> bool:
    """Whether the user gave a second answer after `since` (the undo bar then offers
    nothing: a second answer cannot be undone, and Undo never reaches further back)."""
    return SecondReview.objects.filter(reviewer=user, decided_at__gt=since).exists()


def undo_check(*, decision: Decision, user: User, locked: FlaggedItem) -> str | None:
    """For the first reviewer's undo of a sampled decision: None when the decision was never
    sampled (the usual rules apply), "" when it may be undone (its review still waits and no
    second reviewer holds the item), or why not."""
    review = SecondReview.objects.filter(first_decision=decision).first()
    if review is None:
        return None
    if review.state != SecondReviewState.PENDING:
        return "A second reviewer has reviewed this decision since; it stands."
    if locked.state == ItemState.CLAIMED and locked.claimed_by_id != user.pk:
        return "A second reviewer has taken this item up; your decision stands."
    return ""


def undo_cancel(*, decision: Decision) -> bool:
    """The first reviewer undoes a decision waiting for its second answer: the review goes
    (the item returns to them, undecided). True when there was one: the decision never
    counted, so nothing needs correcting."""
    deleted, _ = SecondReview.objects.filter(
        first_decision=decision, state=SecondReviewState.PENDING
    ).delete()
    return bool(deleted)


def overturnable(item: FlaggedItem) -> bool:
    """Whether the item, though not decided, has a first decision a senior may overturn: its
    second review waits or disagreed."""
    return SecondReview.objects.filter(
        item=item, state__in=[SecondReviewState.PENDING, SecondReviewState.DISAGREED]
    ).exists()


def overturn_settle(*, locked: FlaggedItem, replaced: Decision, decision: Decision) -> None:
    """A senior overturned `replaced` while its second review waited or disagreed: the
    overturn is final, so the review ends as adjudicated by it and the item is decided."""
    settled = SecondReview.objects.filter(
        first_decision=replaced,
        state__in=[SecondReviewState.PENDING, SecondReviewState.DISAGREED],
    ).update(state=SecondReviewState.ADJUDICATED, adjudication=decision)
    if not settled:
        return
    back = locked.queue == ReviewQueue.ESCALATED and replaced.from_queue
    locked.release_to(ItemState.DECIDED, queue=replaced.from_queue if back else locked.queue)
