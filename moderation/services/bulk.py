"""Bulk actions for seniors and admins (issue 11): several removal proposals approved or
rejected at once, and all of one end user's pending items decided with one verdict.

Nothing here decides anything itself: each proposal goes through `removal_approve` or
`removal_reject`, each item through `decision_record`, one at a time and each in its own
transaction, so four eyes, audit, figures, thresholds, enforcement, deliveries and the
second review's sampling behave exactly as for the single action. One refusal never
undoes the others: it is reported beside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from django.contrib.auth.models import User

from accounts.roles import Role, user_has_role
from moderation.models import (
    ActionState,
    Decision,
    EnforcementAction,
    FlaggedItem,
    ItemState,
    PolicyCategory,
    ReviewQueue,
    SecondReviewState,
    Subject,
    Verdict,
)
from moderation.services import enforcement, review
from moderation.services.claims import reviewable_queues

ProposalVerdict = Literal["approve", "reject"]


class BulkRefused(Exception):
    """The bulk action is not allowed at all (role); nothing was changed."""


def proposal_name(action: EnforcementAction) -> str:
    """How a proposal is named in results: its user, short, and organization."""
    return f"user {action.subject.user_id_hash[:12]}… ({action.subject.organization.slug})"


@dataclass
class ProposalsResult:
    """What came of each selected proposal: done, refused by the four-eyes rule, or stale
    (settled by someone or something else since it was selected)."""

    decision: ProposalVerdict
    done: list[EnforcementAction] = field(default_factory=list)
    refused: list[tuple[EnforcementAction, str]] = field(default_factory=list)
    stale: list[tuple[EnforcementAction, str]] = field(default_factory=list)


def _stale_reason(action: EnforcementAction) -> str:
    if action.state == ActionState.WITHDRAWN:
        return "withdrawn by the thresholds"
    verb = "approved" if action.state == ActionState.TAKEN else "rejected"
    by = f" by {action.approved_by.get_username()}" if action.approved_by else ""
    return f"already {verb}{by}"


def proposals_decide(
    *,
    actions: Sequence[EnforcementAction],
    user: User,
    decision: ProposalVerdict,
    note: str = "",
) -> ProposalsResult:
    """Approve or reject each proposal in turn, through the single action's service.

    A proposal resting on an item the user decided is refused for approval (four eyes) and
    reported with the items; one that is no longer proposed is reported as stale. Neither
    is an error: the others are done regardless.
    """
    if not user_has_role(user, Role.SENIOR):
        raise BulkRefused("Only seniors and admins approve or reject removals.")
    result = ProposalsResult(decision=decision)
    act = enforcement.removal_approve if decision == "approve" else enforcement.removal_reject
    for action in actions:
        try:
            result.done.append(act(action=action, user=user, note=note))
        except enforcement.EnforcementRefused:
            current = EnforcementAction.objects.select_related(
                "approved_by", "subject__organization"
            ).get(pk=action.pk)
            if current.state != ActionState.PROPOSED:
                result.stale.append((current, _stale_reason(current)))
                continue
            behind = set(current.basis.values_list("item_id", flat=True))
            own = sorted(enforcement.items_decided_by(user=user, item_ids=behind))
            listed = ", ".join(f"#{pk}" for pk in own)
            result.refused.append((current, f"you decided {listed} behind it: four-eyes rule"))
    return result


# --- all of one end user's pending items, one verdict -----------------------------------


@dataclass
class Pending:
    """A subject's undecided items as the user would find them: those the bulk decision
    takes, and those it leaves, each with why."""

    decidable: list[FlaggedItem] = field(default_factory=list)
    skipped: list[tuple[FlaggedItem, str]] = field(default_factory=list)


@dataclass
class DecideAllResult:
    decided: list[Decision] = field(default_factory=list)
    skipped: list[tuple[FlaggedItem, str]] = field(default_factory=list)


def subject_pending(*, subject: Subject, user: User) -> Pending:
    """The subject's items waiting for a decision, split into those `user` may decide now
    and those left out: held by another reviewer (live lease or not, as `decision_record`
    holds it), in a queue not theirs, waiting for a blind second answer, or a disagreement
    between two reviewers (settled on its own, by adjudication). Golden servings never
    belong to a subject's figures and are never included."""
    items = (
        FlaggedItem.objects.filter(
            subject=subject,
            gold__isnull=True,
            state__in=[ItemState.PENDING, ItemState.CLAIMED, ItemState.ESCALATED],
        )
        .select_related("claimed_by")
        .order_by("pk")
    )
    reviewing = set(
        FlaggedItem.objects.filter(
            subject=subject,
            second_reviews__state__in=[SecondReviewState.PENDING, SecondReviewState.DISAGREED],
        ).values_list("pk", flat=True)
    )
    queues = reviewable_queues(user)
    pending = Pending()
    for item in items:
        if item.state == ItemState.CLAIMED and item.claimed_by_id != user.pk:
            holder = item.claimed_by.get_username() if item.claimed_by else "someone"
            pending.skipped.append((item, f"held by {holder}"))
        elif item.queue not in queues:
            pending.skipped.append((item, "not in a queue of yours"))
        elif item.pk in reviewing:
            reason = (
                "a disagreement to settle on its own page"
                if item.queue == ReviewQueue.ESCALATED
                else "waiting for a blind second review"
            )
            pending.skipped.append((item, reason))
        else:
            pending.decidable.append(item)
    return pending


def decide_all_check(
    *, verdict: Verdict | None, categories: Sequence[PolicyCategory], note: str
) -> None:
    """The form's rules, before anything is decided; DecisionInvalid (field, message)."""
    if verdict not in (Verdict.VIOLATION, Verdict.NO_VIOLATION):
        raise review.DecisionInvalid("verdict", "Choose Violation or No violation.")
    if verdict == Verdict.VIOLATION and not categories:
        raise review.DecisionInvalid(
            "categories", "Choose at least one policy category for a violation."
        )
    if verdict == Verdict.NO_VIOLATION and categories:
        raise review.DecisionInvalid(
            "categories", "Uncheck the policy categories, or decide Violation instead."
        )
    if not note.strip():
        raise review.DecisionInvalid("note", "Say in the note why these items are decided alike.")
    if len(note) > review.MAX_NOTE:
        raise review.DecisionInvalid("note", f"A note has at most {review.MAX_NOTE} characters.")


def subject_decide_all(
    *,
    subject: Subject,
    user: User,
    verdict: Verdict,
    categories: Sequence[PolicyCategory],
    note: str,
) -> DecideAllResult:
    """Decide every pending item of the subject that the user may decide, one by one through
    `decision_record` (each its own Decision, audited, its own transaction; the figures and
    thresholds evaluated after each, exactly as deciding them one at a time). Items left out
    by `subject_pending`, or refused by the review service meanwhile (someone claimed or
    decided one since), are reported as skipped."""
    if not user_has_role(user, Role.SENIOR):
        raise BulkRefused("Only seniors and admins decide a user's items at once.")
    decide_all_check(verdict=verdict, categories=categories, note=note)
    pending = subject_pending(subject=subject, user=user)
    result = DecideAllResult(skipped=list(pending.skipped))
    for item in pending.decidable:
        try:
            result.decided.append(
                review.decision_record(
                    item=item, reviewer=user, verdict=verdict, categories=categories, note=note
                )
            )
        except (review.ClaimConflict, review.DecisionInvalid) as refused:
            result.skipped.append((item, str(refused)))
    subject.refresh_from_db()
    return result
