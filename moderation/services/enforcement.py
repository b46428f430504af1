"""Enforcement: from a user's figures to warn, restrict and remove, and back by reinstatement.

Automatic actions (decided by "threshold") only escalate; removal is only ever proposed
automatically, for a senior or admin to approve. Seniors and admins may take any action by
hand, with a reason. Every taken action changes the user's status, is audited, and is
delivered to the organization's enforcement webhook.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.roles import Role, user_has_role
from moderation.models import (
    FINAL_VERDICTS,
    ActionKind,
    ActionState,
    AuditAction,
    Decision,
    EnforcementAction,
    Organization,
    Severity,
    Subject,
    SubjectStatus,
)
from moderation.services import deliveries
from moderation.services.audit import audit_record
from moderation.services.rates import Figures, counted_violation, figures_since, subject_recount
from moderation.services.thresholds import STATUS_RANK, Rules, status_target, thresholds_for

STATUS_OF_ACTION = {
    ActionKind.WARN: SubjectStatus.WARNED,
    ActionKind.RESTRICT: SubjectStatus.RESTRICTED,
    ActionKind.REMOVE: SubjectStatus.REMOVED,
    ActionKind.REINSTATE: SubjectStatus.ACTIVE,
}
ACTION_FOR_STATUS = {
    SubjectStatus.WARNED: ActionKind.WARN,
    SubjectStatus.RESTRICTED: ActionKind.RESTRICT,
}


class EnforcementRefused(Exception):
    """The action is not allowed (role, state, missing reason); nothing was changed."""


def _threshold_reason(kind: ActionKind, figures: Figures, rules: Rules) -> str:
    noun = "violation" if figures.violations == 1 else "violations"
    base = (
        f"{figures.violations} {noun} of {figures.reviewed} reviewed in "
        f"{rules.window_days} days (rate {figures.rate:.2f})"
    )
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


def _new_action(
    subject: Subject,
    *,
    kind: ActionKind,
    state: ActionState,
    decided_by: str,
    actor: AbstractBaseUser | None,
    reason: str,
    categories: list[str],
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
    )


def _take(action: EnforcementAction, *, by: AbstractBaseUser | None) -> EnforcementAction:
    """Make a created or approved action effective: status, audit, delivery."""
    now = timezone.now()
    action.state = ActionState.TAKEN
    action.effective_at = now
    action.resolved_at = action.resolved_at or now
    action.save(
        update_fields=["state", "effective_at", "resolved_at", "approved_by", "review_note"]
    )
    subject = action.subject
    subject.status = STATUS_OF_ACTION[ActionKind(action.kind)]
    subject.updated_at = now
    subject.save(update_fields=["status", "updated_at"])
    audit_record(
        actor=by,
        action=AuditAction.ENFORCEMENT_TAKEN,
        subject=subject,
        detail={"action": str(action.pk), "kind": action.kind, "decided_by": action.decided_by},
    )
    deliveries.delivery_create(action=action)
    return action


@transaction.atomic
def enforcement_evaluate(*, subject: Subject) -> list[EnforcementAction]:
    """After a decision: recount the figures and take what the thresholds call for.

    Only escalates; a removal already waiting, or a removed user, gets no new proposal.
    """
    subject = Subject.objects.select_for_update().select_related("organization").get(pk=subject.pk)
    # The thresholds are read once here and passed down (they give the window too).
    rules = Rules.of(thresholds_for(subject.organization))
    figures = subject_recount(subject=subject, window_days=rules.window_days)
    # A reinstated user starts afresh: the thresholds see only what they did since, so the
    # next decision does not undo the reinstatement on the strength of the old violations.
    reinstated = _last_moment(subject, kind=ActionKind.REINSTATE, state=ActionState.TAKEN)
    if reinstated is not None:
        figures = figures_since(subject=subject, since=reinstated, window_days=rules.window_days)
    target = status_target(
        violations=figures.violations,
        reviewed=figures.reviewed,
        critical_violation=figures.critical_violation,
        rules=rules,
    )
    taken: list[EnforcementAction] = []
    current = SubjectStatus(subject.status)
    if STATUS_RANK[target.status] > STATUS_RANK[current]:
        kind = ACTION_FOR_STATUS[target.status]
        action = _new_action(
            subject,
            kind=kind,
            state=ActionState.TAKEN,
            decided_by="threshold",
            actor=None,
            reason=_threshold_reason(kind, figures, rules),
            categories=figures.categories,
        )
        taken.append(_take(action, by=None))
    # A rejected removal is not proposed again until a new violation comes after it.
    rejected = _last_moment(subject, kind=ActionKind.REMOVE, state=ActionState.REJECTED)
    if (
        target.propose_removal
        and subject.status != SubjectStatus.REMOVED
        and not subject.actions.filter(state=ActionState.PROPOSED).exists()
        and (
            rejected is None
            or figures_since(
                subject=subject, since=rejected, window_days=rules.window_days
            ).violations
            > 0
        )
    ):
        proposal = _new_action(
            subject,
            kind=ActionKind.REMOVE,
            state=ActionState.PROPOSED,
            decided_by="threshold",
            actor=None,
            reason=_threshold_reason(ActionKind.REMOVE, figures, rules),
            categories=figures.categories,
        )
        audit_record(
            actor=None,
            action=AuditAction.ENFORCEMENT_PROPOSED,
            subject=subject,
            detail={"action": str(proposal.pk), "kind": proposal.kind},
        )
        taken.append(proposal)
    return taken


def _last_moment(subject: Subject, *, kind: ActionKind, state: ActionState) -> datetime | None:
    """When the subject's latest action of this kind and state was taken or settled."""
    latest = (
        subject.actions.filter(kind=kind, state=state)
        .order_by("-created_at")
        .values_list("resolved_at", "effective_at", "created_at")
        .first()
    )
    if latest is None:
        return None
    return next(moment for moment in latest if moment is not None)


def _senior(user: AbstractBaseUser) -> None:
    if not user_has_role(user, Role.SENIOR):
        raise EnforcementRefused("Only seniors and admins act on users.")


@transaction.atomic
def removal_approve(
    *, action: EnforcementAction, user: AbstractBaseUser, note: str = ""
) -> EnforcementAction:
    _senior(user)
    locked = (
        EnforcementAction.objects.select_for_update().select_related("subject").get(pk=action.pk)
    )
    if locked.state != ActionState.PROPOSED:
        raise EnforcementRefused("This removal has already been decided.")
    locked.approved_by = user  # type: ignore[assignment]
    locked.review_note = note.strip()
    locked.resolved_at = timezone.now()
    return _take(locked, by=user)


@transaction.atomic
def removal_reject(
    *, action: EnforcementAction, user: AbstractBaseUser, note: str = ""
) -> EnforcementAction:
    _senior(user)
    locked = EnforcementAction.objects.select_for_update().get(pk=action.pk)
    if locked.state != ActionState.PROPOSED:
        raise EnforcementRefused("This removal has already been decided.")
    locked.state = ActionState.REJECTED
    locked.approved_by = user  # type: ignore[assignment]
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
    user: AbstractBaseUser,
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
            proposal.approved_by = user  # type: ignore[assignment]
            proposal.save(update_fields=["state", "review_note", "resolved_at", "approved_by"])
    return action


def thresholds_preview(*, organization: Organization | None, rules: Rules) -> dict[str, int]:
    """How many users would change status if `rules` applied now (escalation only, as the
    automatic actions): one grouped count over the decisions in the new window."""
    since = timezone.now() - timedelta(days=rules.window_days)
    rows = (
        Decision.objects.filter(verdict__in=FINAL_VERDICTS, decided_at__gt=since)
        .filter(**{f"item__subject__{k}": v for k, v in _scope_filter(organization).items()})
        .values("item__subject_id", "item__subject__status")
        .annotate(
            reviewed=Count("id", distinct=True),
            violations=Count("id", filter=counted_violation(), distinct=True),
            critical=Count(
                "id",
                filter=counted_violation() & Q(categories__severity=Severity.CRITICAL),
                distinct=True,
            ),
        )
    )
    waiting = set(
        EnforcementAction.objects.filter(state=ActionState.PROPOSED).values_list(
            "subject_id", flat=True
        )
    )
    counts = {"warned": 0, "restricted": 0, "proposals": 0, "total": 0}
    for row in rows:
        target = status_target(
            violations=row["violations"],
            reviewed=row["reviewed"],
            critical_violation=row["critical"] > 0,
            rules=rules,
        )
        current = SubjectStatus(row["item__subject__status"])
        changes = False
        if STATUS_RANK[target.status] > STATUS_RANK[current]:
            counts[target.status.value] += 1
            changes = True
        if (
            target.propose_removal
            and current != SubjectStatus.REMOVED
            and row["item__subject_id"] not in waiting
        ):
            counts["proposals"] += 1
            changes = True
        counts["total"] += changes
    return counts


def _scope_filter(organization: Organization | None) -> dict[str, object]:
    if organization is not None:
        return {"organization": organization}
    return {"organization__thresholds__isnull": True}


def thresholds_apply(*, organization: Organization | None) -> int:
    """After new thresholds are saved: re-evaluate every user in scope who has a violation;
    returns how many got a new status or a removal proposal."""
    changed = 0
    subjects = Subject.objects.filter(violations__gt=0, **_scope_filter(organization))
    for subject in subjects.iterator():
        if enforcement_evaluate(subject=subject):
            changed += 1
    return changed
