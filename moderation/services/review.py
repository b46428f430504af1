"""Decisions: a reviewer's verdict on the item they hold, recorded once, and corrected only
by its reviewer's undo (within minutes) or a senior's overturn.

Neither correction deletes anything: the decision is voided (undone or overturned) and
stays on record; the consequences (figures, thresholds, proposals) follow the final
decisions through `enforcement_correct`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from accounts.roles import Role, user_has_role
from moderation import metrics
from moderation.models import (
    AuditAction,
    AuditEvent,
    Decision,
    FlaggedItem,
    ItemState,
    PolicyCategory,
    PolicyException,
    ReviewQueue,
    Severity,
    Verdict,
    VoidReason,
)
from moderation.services import policy, second_review, sla
from moderation.services.audit import audit_record
from moderation.services.claims import reviewable_queues
from moderation.services.enforcement import enforcement_correct, enforcement_evaluate

MAX_NOTE = 5000


class ClaimConflict(Exception):
    """The item takes no decision from this user now (someone else holds or has decided it,
    it is not for their role, or it takes no decision at all); nothing was recorded."""


class DecisionInvalid(Exception):
    """The decision breaks a rule (field, message); nothing was recorded."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class OverturnRefused(Exception):
    """The user may not overturn, or the item has no decision to overturn; nothing changed."""


def _check(verdict: Verdict, categories: Sequence[PolicyCategory], note: str) -> None:
    if len(note) > MAX_NOTE:
        raise DecisionInvalid("note", f"A note has at most {MAX_NOTE} characters.")
    if verdict == Verdict.VIOLATION and not categories:
        raise DecisionInvalid("categories", "Choose at least one policy category for a violation.")
    if verdict == Verdict.NO_VIOLATION and categories:
        raise DecisionInvalid(
            "categories", "Uncheck the policy categories, or decide Violation instead."
        )
    if verdict == Verdict.ESCALATE and not note.strip():
        raise DecisionInvalid("note", "Say in the note why you escalate.")


def _refusal(locked: FlaggedItem, reviewer: User) -> str | None:
    """Why the reviewer may not decide the locked item now, or None.

    Accepted only on an item pending in a queue of theirs, escalated (seniors and admins),
    or claimed by the reviewer themself, live lease or not: an expired lease the workers
    have not yet taken back is still someone's, never anyone's. A retired golden item takes
    no decision.
    """
    queues = reviewable_queues(reviewer)
    if not queues:
        return "Your account has no role yet; your decision was not recorded."
    state = ItemState(locked.state)
    if state == ItemState.DECIDED:
        return "This item has already been decided; your decision was not recorded."
    if state == ItemState.ALLOWED:
        return (
            "This item was allowed under a policy exception when it arrived and takes no "
            "decision; your decision was not recorded."
        )
    if state == ItemState.ERASED:
        return (
            "This item was erased at the user's request before review and takes no "
            "decision; your decision was not recorded."
        )
    if state == ItemState.RETIRED:
        return "This item is no longer in review; your decision was not recorded."
    if state == ItemState.CLAIMED and locked.claimed_by_id != reviewer.pk:
        holder = locked.claimed_by.get_username() if locked.claimed_by else "someone"
        since = (
            timezone.localtime(locked.claimed_at).strftime("%H:%M") if locked.claimed_at else "?"
        )
        return (
            f"Another reviewer ({holder}) has held this item since {since}; "
            "your decision was not recorded."
        )
    if locked.queue not in queues:
        return "Only seniors and admins decide escalated items."
    return None


def _allowed_by(
    locked: FlaggedItem, verdict: Verdict, categories: Sequence[PolicyCategory], now: datetime
) -> PolicyException | None:
    """A violation in categories all excepted for this organization is recorded as allowed
    under the exception, and not counted in the user's rate."""
    if verdict != Verdict.VIOLATION:
        return None
    return policy.exception_covering(
        policy.exceptions_active(organization_id=locked.organization_id, now=now),
        [c.pk for c in categories],
    )


def _content_seen(locked: FlaggedItem, user: User) -> bool:
    """False when the item's text is hidden (a critical category) and this user never chose
    "Show content": the server's own record of the reveal, not the page's word for it."""
    hidden = locked.signals.filter(category__severity=Severity.CRITICAL).exists()
    return (
        not hidden
        or AuditEvent.objects.filter(
            action=AuditAction.CONTENT_REVEAL, actor=user, item=locked
        ).exists()
    )


def category_slugs(categories: Sequence[PolicyCategory]) -> list[str]:
    return sorted(c.slug for c in categories)


def _new_decision(
    locked: FlaggedItem,
    *,
    reviewer: User,
    verdict: Verdict,
    categories: Sequence[PolicyCategory],
    note: str,
    claimed_at: datetime,
    now: datetime,
) -> Decision:
    """The decision row on the locked item, with what it was allowed under and whether its
    decider saw the content: one shape for first decisions and overturns."""
    decision = Decision.objects.create(
        item=locked,
        reviewer=reviewer,
        verdict=verdict,
        note=note.strip(),
        claimed_at=claimed_at,
        decided_at=now,
        seconds_spent=max(0, int((now - claimed_at).total_seconds())),
        allowed_by=_allowed_by(locked, verdict, categories, now),
        from_queue=locked.queue,
        content_seen=_content_seen(locked, reviewer),
    )
    if categories:
        decision.categories.set(categories)
    transaction.on_commit(lambda: metrics.DECISIONS.labels(verdict=verdict).inc())
    return decision


def decision_replace(
    standing: Decision,
    locked: FlaggedItem,
    *,
    by: User,
    reason: VoidReason,
    verdict: Verdict,
    categories: Sequence[PolicyCategory],
    note: str,
    claimed_at: datetime,
    now: datetime,
) -> Decision:
    """Void the standing decision for `reason` (an overturn, an adjudication) and record the
    decision that replaces it, pointed to by the old one. Voided first: only one standing
    final decision per item (a database constraint)."""
    standing.voided_at = now
    standing.voided_by = by
    standing.void_reason = reason
    standing.save(update_fields=["voided_at", "voided_by", "void_reason"])
    decision = _new_decision(
        locked,
        reviewer=by,
        verdict=verdict,
        categories=categories,
        note=note,
        claimed_at=claimed_at,
        now=now,
    )
    standing.replaced_by = decision
    standing.save(update_fields=["replaced_by"])
    return decision


@transaction.atomic
def decision_record(
    *,
    item: FlaggedItem,
    reviewer: User,
    verdict: Verdict,
    categories: Sequence[PolicyCategory],
    note: str,
) -> Decision:
    """Record the reviewer's decision on an item they hold, or may still take.

    The item row is locked first, so two decisions on one item are serialised and the
    second finds it decided.

    On a served golden item the decision is recorded the same way, and scored later against
    the known answer (`gold_serving.gold_result`), but no subject's figures, thresholds or
    actions follow it. Escalating a golden item is recorded (and scored as not correct) and
    retires the item: seniors never spend time on gold.
    """
    from moderation.services import adjudication  # it builds on this module

    if item.queue == ReviewQueue.ESCALATED and adjudication.disagreement_of(item=item):
        # A blind second review's disagreement: the senior's decision settles it.
        return adjudication.adjudication_record(
            item=item, senior=reviewer, verdict=verdict, categories=categories, note=note
        )
    _check(verdict, categories, note)
    now = timezone.now()
    # The subject comes with the item (only the item's row is locked): the figures move
    # by this decision at the end.
    locked = (
        FlaggedItem.objects.select_for_update(of=("self",))
        .select_related("claimed_by", "subject")
        .get(pk=item.pk)
    )
    refusal = _refusal(locked, reviewer)
    waiting = second_review.pending_review(locked) if refusal is None else None
    refusal = refusal or second_review.first_reviewer_refusal(review=waiting, reviewer=reviewer)
    if refusal is not None:
        raise ClaimConflict(refusal)
    if verdict == Verdict.ESCALATE and locked.queue == ReviewQueue.ESCALATED:
        raise DecisionInvalid("verdict", "This item is already escalated: decide it.")
    if waiting is not None:
        # A blind second answer: kept in the review, not as a decision; the first decision
        # (returned) stays the item's, and counts once the two agree.
        second_review.second_answer(
            locked=locked,
            review=waiting,
            reviewer=reviewer,
            verdict=verdict,
            categories=categories,
            note=note,
            now=now,
        )
        return waiting.first_decision

    claimed_at = locked.held_since(reviewer.pk, now)
    decision = _new_decision(
        locked,
        reviewer=reviewer,
        verdict=verdict,
        categories=categories,
        note=note,
        claimed_at=claimed_at,
        now=now,
    )
    allowed_by, seen = decision.allowed_by, decision.content_seen

    if verdict == Verdict.ESCALATE and locked.gold_id is not None:
        locked.release_to(ItemState.RETIRED)
        action = AuditAction.ITEM_ESCALATE
    elif verdict == Verdict.ESCALATE:
        locked.release_to(
            ItemState.ESCALATED,
            **sla.entering(queue=ReviewQueue.ESCALATED, priority=locked.priority, now=now),
        )
        action = AuditAction.ITEM_ESCALATE
    else:
        locked.release_to(ItemState.DECIDED, decided_at=now)
        action = AuditAction.ITEM_DECIDE
    audit_record(
        actor=reviewer,
        action=action,
        item=locked,
        detail={
            "verdict": Verdict(verdict).value,
            "categories": category_slugs(categories),
            "decision": decision.pk,
            "content_seen": seen,
            **({"allowed_by_exception": allowed_by.pk} if allowed_by else {}),
        },
    )
    if second_review.second_review_sample(locked=locked, decision=decision) is not None:
        # Sampled for a blind second review: it counts once a second reviewer agrees.
        return decision
    if verdict != Verdict.ESCALATE and locked.gold_id is None:
        # The user's figures, and what the thresholds make of them, move with each decision.
        enforcement_evaluate(subject=locked.subject, started=decision)
    return decision


# --- overturn: a senior or admin replaces the final decision ------------------------------


@transaction.atomic
def decision_overturn(
    *,
    item: FlaggedItem,
    user: User,
    verdict: Verdict,
    categories: Sequence[PolicyCategory],
    note: str,
) -> Decision:
    """Replace the item's final decision with the senior's own: the earlier stays on record
    as overturned (replaced by the new one), and the user's figures and actions follow.

    Raises OverturnRefused for a user who is not a senior or admin or an item not decided,
    DecisionInvalid (field, message) for the verdict, categories or note.
    """
    if not user_has_role(user, Role.SENIOR):
        raise OverturnRefused("Only seniors and admins overturn decisions.")
    if verdict not in (Verdict.VIOLATION, Verdict.NO_VIOLATION):
        raise DecisionInvalid("verdict", "Choose Violation or No violation.")
    _check(verdict, categories, note)
    if not note.strip():
        raise DecisionInvalid("note", "Say in the note why you overturn the decision.")
    now = timezone.now()
    locked = FlaggedItem.objects.select_for_update(of=("self",)).get(pk=item.pk)
    if locked.state != ItemState.DECIDED and not second_review.overturnable(locked):
        raise OverturnRefused("Only a decided item's decision can be overturned.")
    # The standing decision counted until now unless its second review waits or disagreed
    # (the item is then pending or escalated, not decided): the overturn settles that.
    counted = locked.state == ItemState.DECIDED
    standing = Decision.objects.select_for_update().filter(item=locked).final().first()
    if standing is None:
        raise OverturnRefused("This item has no standing decision to overturn.")
    before = category_slugs(list(standing.categories.all()))
    if standing.verdict == verdict and before == category_slugs(categories):
        raise DecisionInvalid(
            "verdict",
            "Nothing to change: the decision already says this. Choose another verdict or "
            "other categories.",
        )
    decision = decision_replace(
        standing,
        locked,
        by=user,
        reason=VoidReason.OVERTURNED,
        verdict=verdict,
        categories=categories,
        note=note,
        claimed_at=now,
        now=now,
    )
    allowed_by = decision.allowed_by
    # A second review still waiting or disagreeing ends here: the overturn is final.
    second_review.overturn_settle(locked=locked, replaced=standing, decision=decision)
    # The item's decision time is its final decision's: retention and training exports
    # count from the decision that now stands.
    locked.decided_at = now
    locked.save(update_fields=["decided_at"])
    audit_record(
        actor=user,
        action=AuditAction.ITEM_OVERTURN,
        item=locked,
        detail={
            "from": {"verdict": standing.verdict, "categories": before},
            "to": {"verdict": Verdict(verdict).value, "categories": category_slugs(categories)},
            "note": decision.note,
            "decision": decision.pk,
            "replaces": standing.pk,
            "content_seen": decision.content_seen,
            **({"allowed_by_exception": allowed_by.pk} if allowed_by else {}),
        },
    )
    if locked.gold_id is None:
        enforcement_correct(
            subject=locked.subject, cause=standing, counted=counted, started=decision
        )
    return decision
