"""Enforcement: from a user's figures to warn, restrict and remove, and back by reinstatement.

Automatic actions (decided by "threshold") only escalate; removal is only ever proposed
automatically, for a senior or admin to approve. Seniors and admins may take any action by
hand, with a reason. Every taken action changes the user's status, is audited, and is
delivered to the organization's enforcement webhook.

When a decision is undone or overturned, the consequences follow the final decisions
(CONTRACT §5 v2, §6 v2): an automatic warning or restriction that no longer stands steps
down to what the thresholds now say ("correction"), and a removal proposal whose basis is
gone is withdrawn. What the thresholds call for is one pure function, `enforcement_plan`,
over one read of a subject's situation, `situations_read` (both in enforcement_plan.py):
the decision path, the thresholds preview and their application all go through both, so
the preview cannot promise what saving does not do.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from accounts.roles import Role, user_has_role
from moderation.models import (
    ActionKind,
    ActionState,
    AuditAction,
    Decision,
    EnforcementAction,
    Subject,
    SubjectStatus,
    VoidReason,
)
from moderation.services import deliveries
from moderation.services.audit import audit_record
from moderation.services.enforcement_plan import (
    CORRECTION,
    STATUS_NOUN,
    THRESHOLD,
    Plan,
    enforcement_plan,
    situation_quick,
    situations_read,
)
from moderation.services.rates import (
    Figures,
    figures_move,
    subject_recount,
)
from moderation.services.thresholds import (
    Rules,
    thresholds_for,
)

STATUS_OF_ACTION = {
    ActionKind.WARN: SubjectStatus.WARNED,
    ActionKind.RESTRICT: SubjectStatus.RESTRICTED,
    ActionKind.REMOVE: SubjectStatus.REMOVED,
    ActionKind.REINSTATE: SubjectStatus.ACTIVE,
}


class EnforcementRefused(Exception):
    """The action is not allowed (role, state, missing reason); nothing was changed."""


# --- actions ------------------------------------------------------------------------------


def _figures_text(figures: Figures, rules: Rules) -> str:
    noun = "violation" if figures.violations == 1 else "violations"
    return (
        f"{figures.violations} {noun} of {figures.reviewed} reviewed in "
        f"{rules.window_days} days (rate {figures.rate:.2f})"
    )


def _threshold_reason(kind: ActionKind, figures: Figures, rules: Rules) -> str:
    base = _figures_text(figures, rules)
    if kind == ActionKind.WARN:
        return f"{base} reached the warn threshold of {rules.warn_violations}"
    if kind == ActionKind.RESTRICT:
        return (
            f"{base} reached the restrict threshold of {rules.restrict_violations} "
            f"at rate ≥ {rules.restrict_rate:.2f}"
        )
    if figures.critical_violation and rules.remove_on_critical:
        return f"{base}, including a violation in a critical category"
    return (
        f"{base} reached the remove threshold of {rules.remove_violations} "
        f"at rate ≥ {rules.remove_rate:.2f}"
    )


def _cause_text(cause: Decision) -> str:
    """Names the voided decision, e.g. "Decision 41 on item 17 was overturned by sam"."""
    verb = "undone" if cause.void_reason == VoidReason.UNDONE else "overturned"
    who = cause.voided_by.get_username() if cause.voided_by else "someone"
    return f"Decision {cause.pk} on item {cause.item_id} was {verb} by {who}"


def _new_action(
    subject: Subject,
    *,
    kind: ActionKind,
    state: ActionState,
    decided_by: str,
    actor: User | None,
    reason: str,
    categories: list[str],
    status_after: SubjectStatus | None = None,
) -> EnforcementAction:
    return EnforcementAction.objects.create(
        subject=subject,
        kind=kind,
        state=state,
        decided_by=decided_by,
        actor=actor,
        reason=reason,
        categories=categories,
        violations=subject.violations,
        reviewed=subject.reviewed,
        violation_rate=subject.violation_rate,
        status_after=status_after.value if status_after else "",
    )


def _take(action: EnforcementAction, *, by: User | None) -> EnforcementAction:
    """Make a created or approved action effective: status, audit, delivery."""
    now = timezone.now()
    action.state = ActionState.TAKEN
    action.effective_at = now
    action.resolved_at = action.resolved_at or now
    action.save(
        update_fields=["state", "effective_at", "resolved_at", "approved_by", "review_note"]
    )
    subject = action.subject
    # A correction may step a restriction down to a warning rather than to active.
    subject.status = action.status_after or STATUS_OF_ACTION[ActionKind(action.kind)]
    subject.updated_at = now
    subject.save(update_fields=["status", "updated_at"])
    detail = {"action": str(action.pk), "kind": action.kind, "decided_by": action.decided_by}
    if action.status_after:
        detail["status_after"] = action.status_after
    audit_record(actor=by, action=AuditAction.ENFORCEMENT_TAKEN, subject=subject, detail=detail)
    deliveries.delivery_create(action=action)
    return action


def _carry_out(
    subject: Subject,
    *,
    plan: Plan,
    figures: Figures,
    rules: Rules,
    cause: Decision | None,
) -> list[EnforcementAction]:
    """Do what the plan says, on the locked subject; returns the actions created or settled."""
    done: list[EnforcementAction] = []
    if plan.take is not None:
        action = _new_action(
            subject,
            kind=plan.take,
            state=ActionState.TAKEN,
            decided_by=THRESHOLD,
            actor=None,
            reason=_threshold_reason(plan.take, figures, rules),
            categories=figures.categories,
        )
        action.basis.set(figures.basis)
        done.append(_take(action, by=None))
    if plan.step_down_to is not None and cause is not None:
        was = STATUS_NOUN[SubjectStatus(subject.status)]
        action = _new_action(
            subject,
            kind=ActionKind.REINSTATE,
            state=ActionState.TAKEN,
            decided_by=CORRECTION,
            actor=None,
            reason=(
                f"{_cause_text(cause)}; the {was} no longer stands: "
                f"{_figures_text(figures, rules)}; status now {plan.step_down_to.value}"
            ),
            categories=figures.categories,
            status_after=plan.step_down_to,
        )
        done.append(_take(action, by=None))
    if (plan.withdraw or plan.refresh) and cause is not None:
        proposal = subject.actions.select_for_update().get(state=ActionState.PROPOSED)
        if plan.withdraw:
            proposal.state = ActionState.WITHDRAWN
            proposal.resolved_at = timezone.now()
            proposal.review_note = (
                f"Withdrawn: {_cause_text(cause)}; the thresholds no longer propose removal: "
                f"{_figures_text(figures, rules)}"
            )
            proposal.save(update_fields=["state", "resolved_at", "review_note"])
            audit_record(
                actor=None,
                action=AuditAction.ENFORCEMENT_WITHDRAWN,
                subject=subject,
                detail={"action": str(proposal.pk), "kind": proposal.kind, "decision": cause.pk},
            )
        else:
            # Still called for: the approver sees what it rests on now, not what it did.
            proposal.violations = subject.violations
            proposal.reviewed = subject.reviewed
            proposal.violation_rate = subject.violation_rate
            proposal.categories = figures.categories
            proposal.reason = _threshold_reason(ActionKind.REMOVE, figures, rules)
            proposal.save(
                update_fields=["violations", "reviewed", "violation_rate", "categories", "reason"]
            )
            proposal.basis.set(figures.basis)
        done.append(proposal)
    if plan.propose:
        proposal = _new_action(
            subject,
            kind=ActionKind.REMOVE,
            state=ActionState.PROPOSED,
            decided_by=THRESHOLD,
            actor=None,
            reason=_threshold_reason(ActionKind.REMOVE, figures, rules),
            categories=figures.categories,
        )
        proposal.basis.set(figures.basis)
        audit_record(
            actor=None,
            action=AuditAction.ENFORCEMENT_PROPOSED,
            subject=subject,
            detail={"action": str(proposal.pk), "kind": proposal.kind},
        )
        done.append(proposal)
    return done


def _enforce(
    subject: Subject,
    *,
    rules: Rules | None,
    cause: Decision | None,
    started: Decision | None = None,
    stopped: Decision | None = None,
    recount: bool = False,
) -> list[EnforcementAction]:
    """Bring the figures up to date and do what the thresholds call for.

    With `recount`, the figures are counted afresh from the window's decisions (the
    thresholds or their window changed); otherwise they move by the decision that
    `started` counting and the one that `stopped` (services/rates.py `figures_move`): O(1)
    however long the window, unless its edge has passed since the roll-forward last ran,
    when they are recounted first. The situation is read from the stored figures, and read
    in full (the window's decisions, for an action's categories and basis) only when the
    thresholds call for something to be done, or the stored figures cannot say.
    """
    locked = Subject.objects.select_for_update().select_related("organization").get(pk=subject.pk)
    # The thresholds are read once here and passed down (they give the window too).
    rules = rules or Rules.of(thresholds_for(locked.organization))
    now = timezone.now()
    edge = locked.window_expires_at
    # Figures past their edge, or without one (stored by no decision: an import, a fixture),
    # are counted afresh before they move.
    stale = edge <= now if edge is not None else locked.reviewed > 0
    if recount or stale:
        subject_recount(subject=locked, now=now, window_days=rules.window_days)
        if not recount:
            # The recount already saw `started` and no longer `stopped`.
            started = stopped = None
    if started is not None or stopped is not None:
        figures_move(
            subject=locked,
            now=now,
            window_days=rules.window_days,
            started=started,
            stopped=stopped,
        )
    correcting = cause is not None
    situation = None
    if not recount:
        situation = situation_quick(locked, rules=rules, now=now, correcting=correcting)
    if situation is not None:
        plan = enforcement_plan(situation=situation, rules=rules, correcting=correcting)
        if not (plan.changes or plan.refresh):
            subject.status = locked.status
            return []
    situation = situations_read([locked], rules=rules, now=now)[locked.pk]
    plan = enforcement_plan(situation=situation, rules=rules, correcting=correcting)
    done = _carry_out(locked, plan=plan, figures=situation.figures, rules=rules, cause=cause)
    subject.status = locked.status
    return done


# Without a savepoint when called inside a transaction (a decision's): nothing catches its
# errors to go on, so a failure rolls the whole decision back, as it should; two round trips
# less on every decision.
@transaction.atomic(savepoint=False)
def enforcement_evaluate(
    *,
    subject: Subject,
    rules: Rules | None = None,
    started: Decision | None = None,
) -> list[EnforcementAction]:
    """After a decision: update the figures and take what the thresholds call for.

    `started` is the counted final decision that made this call (a decision, a second
    review's agreement, an adjudication): the figures move by it alone. Without it the
    figures are recounted from the window (as after a change to the thresholds, whose
    `rules` the caller has read already).
    Only escalates; a removal already waiting, or a removed user, gets no new proposal.
    """
    return _enforce(subject, rules=rules, cause=None, started=started, recount=started is None)


@transaction.atomic
def enforcement_correct(
    *,
    subject: Subject,
    cause: Decision,
    counted: bool = True,
    started: Decision | None = None,
) -> list[EnforcementAction]:
    """After `cause` was undone or overturned: update the figures (`cause` stops counting if
    it `counted`, and an overturn's decision, `started`, starts), and let the consequences
    follow the final decisions (CONTRACT §5 v2). Escalates as `enforcement_evaluate` does;
    steps an automatic warning or restriction down to what the thresholds now say (a
    `reinstate` decided by "correction", delivered like every action); withdraws a removal
    proposal no longer called for. A removed user, or a status set by a person or an
    appeal, is left for a senior or admin. Returns the actions created, taken, withdrawn or
    refreshed."""
    return _enforce(
        subject,
        rules=None,
        cause=cause,
        started=started,
        stopped=cause if counted else None,
    )


# --- removals and actions by hand ---------------------------------------------------------


def _senior(user: User) -> None:
    if not user_has_role(user, Role.SENIOR):
        raise EnforcementRefused("Only seniors and admins act on users.")


def items_decided_by(*, user: User, item_ids: set[int]) -> set[int]:
    """Those of the items on which the user has a standing decision (any verdict, an
    escalation too): the four-eyes rule of approvals, for the service and the page alike."""
    return set(
        Decision.objects.standing()
        .filter(reviewer=user, item_id__in=item_ids)
        .values_list("item_id", flat=True)
    )


def four_eyes_refusal(items: list[int]) -> str:
    listed = ", ".join(f"#{pk}" for pk in items)
    return (
        f"You decided an item behind this proposal ({listed}); another senior or admin "
        "approves it. You may still reject it."
    )


@transaction.atomic
def removal_approve(*, action: EnforcementAction, user: User, note: str = "") -> EnforcementAction:
    _senior(user)
    locked = (
        EnforcementAction.objects.select_for_update().select_related("subject").get(pk=action.pk)
    )
    if locked.state != ActionState.PROPOSED:
        raise EnforcementRefused("This removal has already been decided.")
    # Four eyes: nobody who decided an item behind the proposal approves it.
    behind = set(locked.basis.values_list("item_id", flat=True))
    own = sorted(items_decided_by(user=user, item_ids=behind))
    if own:
        raise EnforcementRefused(four_eyes_refusal(own))
    locked.approved_by = user
    locked.review_note = note.strip()
    locked.resolved_at = timezone.now()
    return _take(locked, by=user)


@transaction.atomic
def removal_reject(*, action: EnforcementAction, user: User, note: str = "") -> EnforcementAction:
    _senior(user)
    locked = EnforcementAction.objects.select_for_update().get(pk=action.pk)
    if locked.state != ActionState.PROPOSED:
        raise EnforcementRefused("This removal has already been decided.")
    locked.state = ActionState.REJECTED
    locked.approved_by = user
    locked.review_note = note.strip()
    locked.resolved_at = timezone.now()
    locked.save(update_fields=["state", "approved_by", "review_note", "resolved_at"])
    audit_record(
        actor=user,
        action=AuditAction.ENFORCEMENT_REJECTED,
        subject=locked.subject,
        detail={"action": str(locked.pk), "kind": locked.kind},
    )
    return locked


@transaction.atomic
def action_by_hand(
    *,
    subject: Subject,
    kind: ActionKind,
    user: User,
    reason: str,
    decided_by: str = "reviewer",
) -> EnforcementAction:
    """A senior's or admin's own action from the subject page (or an upheld appeal)."""
    _senior(user)
    if not reason.strip():
        raise EnforcementRefused("Give the reason for this action.")
    locked = Subject.objects.select_for_update().get(pk=subject.pk)
    if STATUS_OF_ACTION[kind] == locked.status:
        raise EnforcementRefused(f"This user is already {locked.get_status_display().lower()}.")
    action = _new_action(
        locked,
        kind=kind,
        state=ActionState.TAKEN,
        decided_by=decided_by,
        actor=user,
        reason=reason.strip(),
        categories=[],
    )
    _take(action, by=user)
    if kind in (ActionKind.REMOVE, ActionKind.REINSTATE):
        # A removal taken or undone by hand settles any proposal still waiting.
        for proposal in locked.actions.filter(state=ActionState.PROPOSED):
            proposal.state = ActionState.REJECTED
            proposal.review_note = f"superseded by {kind} {action.pk}"
            proposal.resolved_at = timezone.now()
            proposal.approved_by = user
            proposal.save(update_fields=["state", "review_note", "resolved_at", "approved_by"])
    return action
