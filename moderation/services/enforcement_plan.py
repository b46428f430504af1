"""What the thresholds call for: one read of a subject's situation, one pure rule.

`situations_read` reads, for any number of subjects in three queries, what the thresholds
look at; `enforcement_plan` turns one situation into what to do. The decision path, the
corrections after an undo or overturn, the thresholds Preview and their application all go
through both (services/enforcement.py), so the preview cannot promise what saving does not
do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q

from moderation.models import ActionKind, ActionState, EnforcementAction, Subject, SubjectStatus
from moderation.services.rates import (
    Figures,
    counted_decisions,
    critical_violation_in,
    figures_of,
)
from moderation.services.thresholds import STATUS_RANK, Rules, Target, status_target

ACTION_FOR_STATUS = {
    SubjectStatus.WARNED: ActionKind.WARN,
    SubjectStatus.RESTRICTED: ActionKind.RESTRICT,
}
THRESHOLD = "threshold"
CORRECTION = "correction"
# Who decides an action the system took by itself; only these may be corrected by it.
AUTOMATIC = (THRESHOLD, CORRECTION)
STATUS_NOUN = {SubjectStatus.WARNED: "warning", SubjectStatus.RESTRICTED: "restriction"}


@dataclass(frozen=True)
class Situation:
    """What the thresholds look at for one subject."""

    status: SubjectStatus
    # Counted over the window, from the latest reinstatement by a person on (a fresh start).
    figures: Figures
    proposal_open: bool
    # A removal was rejected and no counted violation came after it.
    removal_blocked: bool
    # The current status was set by an automatic action ("threshold" or "correction").
    automatic: bool


@dataclass(frozen=True)
class Plan:
    """What to do about one subject."""

    target: Target
    # An automatic warn or restrict to take.
    take: ActionKind | None = None
    propose: bool = False
    # Only when correcting after an undo or overturn: the status to step down to, and
    # whether the open removal proposal goes (withdraw) or stays with a new basis (refresh).
    step_down_to: SubjectStatus | None = None
    withdraw: bool = False
    refresh: bool = False

    @property
    def changes(self) -> bool:
        """Whether the subject gets a new status or a new (or withdrawn) proposal."""
        return bool(self.take or self.propose or self.step_down_to or self.withdraw)


def enforcement_plan(*, situation: Situation, rules: Rules, correcting: bool = False) -> Plan:
    """The pure rule from a subject's situation to what the thresholds do (CONTRACT §6).

    Automatic actions only escalate, and a removed user is never touched. When
    `correcting` (a decision was undone or overturned), a status an automatic action set
    steps down to what the thresholds now say, and a proposal no longer called for goes.
    """
    figures = situation.figures
    target = status_target(
        violations=figures.violations,
        reviewed=figures.reviewed,
        critical_violation=figures.critical_violation,
        rules=rules,
    )
    current = situation.status
    take = None
    if STATUS_RANK[target.status] > STATUS_RANK[current]:
        take = ACTION_FOR_STATUS[target.status]
    removal_stands = (
        target.propose_removal
        and current != SubjectStatus.REMOVED
        and not situation.removal_blocked
    )
    propose = removal_stands and not situation.proposal_open
    if not correcting:
        return Plan(target=target, take=take, propose=propose)
    step_down = None
    if (
        current in STATUS_NOUN
        and situation.automatic
        and STATUS_RANK[target.status] < STATUS_RANK[current]
    ):
        step_down = target.status
    return Plan(
        target=target,
        take=take,
        propose=propose,
        step_down_to=step_down,
        withdraw=situation.proposal_open and not removal_stands,
        refresh=situation.proposal_open and removal_stands,
    )


def _moment(resolved: datetime | None, effective: datetime | None, created: datetime) -> datetime:
    return resolved or effective or created


@dataclass
class _Actions:
    """What the subjects' enforcement actions say to the thresholds (one query)."""

    fresh: dict[int, datetime]
    rejected: dict[int, datetime]
    setter: dict[int, tuple[datetime, str]]
    proposed: set[int]


def _actions_read(ids: Sequence[int]) -> _Actions:
    read = _Actions(fresh={}, rejected={}, setter={}, proposed=set())
    rows = (
        EnforcementAction.objects.filter(subject_id__in=ids)
        .filter(
            Q(state__in=[ActionState.TAKEN, ActionState.PROPOSED])
            | Q(kind=ActionKind.REMOVE, state=ActionState.REJECTED)
        )
        .order_by("-created_at")
        .values_list(
            "subject_id", "kind", "state", "decided_by", "resolved_at", "effective_at", "created_at"
        )
    )
    for subject_id, kind, state, decided_by, resolved, effective, created in rows:
        if state == ActionState.PROPOSED:
            read.proposed.add(subject_id)
        elif state == ActionState.REJECTED:
            # The latest rejected removal: none is proposed again before a new violation.
            read.rejected.setdefault(subject_id, _moment(resolved, effective, created))
        else:
            # The action that set the current status is the latest to take effect.
            moment = effective or created
            if subject_id not in read.setter or moment > read.setter[subject_id][0]:
                read.setter[subject_id] = (moment, decided_by)
            if kind == ActionKind.REINSTATE and decided_by != CORRECTION:
                # A user reinstated by a person starts afresh: the thresholds see only what
                # they did since. A correction is no fresh start: it would wipe the history
                # that still stands.
                read.fresh.setdefault(subject_id, _moment(resolved, effective, created))
    return read


def situations_read(
    subjects: Sequence[Subject], *, rules: Rules, now: datetime
) -> dict[int, Situation]:
    """Each subject's situation under `rules`, read in three queries however many subjects."""
    ids = [s.pk for s in subjects]
    window_start = now - timedelta(days=rules.window_days)
    actions = _actions_read(ids)
    fresh, rejected, setter, proposed = (
        actions.fresh,
        actions.rejected,
        actions.setter,
        actions.proposed,
    )
    decisions = counted_decisions(subject_ids=ids, since=window_start)
    situations = {}
    for subject in subjects:
        mine = decisions.get(subject.pk, [])
        since = max(window_start, fresh.get(subject.pk, window_start))
        blocked = (
            subject.pk in rejected
            and figures_of(mine, since=max(window_start, rejected[subject.pk])).violations == 0
        )
        status = SubjectStatus(subject.status)
        situations[subject.pk] = Situation(
            status=status,
            figures=figures_of(mine, since=since),
            proposal_open=subject.pk in proposed,
            removal_blocked=blocked,
            automatic=setter.get(subject.pk, (now, ""))[1] in AUTOMATIC,
        )
    return situations


def situation_quick(
    subject: Subject, *, rules: Rules, now: datetime, correcting: bool
) -> Situation | None:
    """The subject's situation from its stored figures, which the caller has just brought
    up to date (services/rates.py `figures_move`), without reading the window's decisions:
    one query for the actions, and one EXISTS for a counted violation in a critical category
    when it could change what `enforcement_plan` (`correcting` or not) does. Its figures carry no
    categories and no basis: enough for `enforcement_plan` to tell whether anything is to
    be done, and the caller reads the full situation (`situations_read`) before doing it.

    None when only the full read can say: a fresh start (a reinstatement by a person) inside
    the window, after which the thresholds see less than the stored figures, or a rejected
    removal while the figures call for removal (blocked until a new violation counts).
    """
    window_start = now - timedelta(days=rules.window_days)
    actions = _actions_read([subject.pk])
    if actions.fresh.get(subject.pk, window_start) > window_start:
        return None
    status = SubjectStatus(subject.status)
    proposal_open = subject.pk in actions.proposed
    by_rate = status_target(
        violations=subject.violations,
        reviewed=subject.reviewed,
        critical_violation=False,
        rules=rules,
    ).propose_removal
    # A critical violation only ever adds a removal proposal: asked only when it could
    # change the plan (not for a removed user, nor one the rates already call removal for,
    # nor, outside a correction, for one whose proposal already waits).
    critical = (
        rules.remove_on_critical
        and subject.violations >= 1
        and status != SubjectStatus.REMOVED
        and not by_rate
        and (correcting or not proposal_open)
        and critical_violation_in(subject=subject, since=window_start)
    )
    figures = Figures(
        violations=subject.violations,
        reviewed=subject.reviewed,
        critical_violation=critical,
        categories=[],
    )
    target = status_target(
        violations=figures.violations,
        reviewed=figures.reviewed,
        critical_violation=figures.critical_violation,
        rules=rules,
    )
    if target.propose_removal and subject.pk in actions.rejected:
        return None
    return Situation(
        status=status,
        figures=figures,
        proposal_open=proposal_open,
        removal_blocked=False,
        automatic=actions.setter.get(subject.pk, (now, ""))[1] in AUTOMATIC,
    )
