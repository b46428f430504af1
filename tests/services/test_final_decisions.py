"""Consequences follow the final decision, for any history (CONTRACT §5 v2, §6 v2): random
sequences of decisions, undos and overturns leave each user's stored figures equal to a
recount of the final decisions, and their status where the thresholds put it, checked
against a model of the rules written here, independently of the code."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation.models import (
    ActionState,
    Decision,
    FlaggedItem,
    ItemState,
    SubjectStatus,
    Verdict,
)
from moderation.services.review import DecisionInvalid, OverturnRefused, decision_overturn
from moderation.services.thresholds import STATUS_RANK, Rules, status_target
from moderation.services.undo import UndoRefused, decision_undo
from tests.factories import SubjectFactory, categories, decide

pytestmark = pytest.mark.django_db

# "V": a violation (hate), "C": a violation in a critical category (weapons), "N": none.
VERDICTS = st.sampled_from(["V", "C", "N"])
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("decide"), st.integers(0, 1), VERDICTS),
        st.tuples(st.just("undo"), st.integers(0, 30)),
        st.tuples(st.just("overturn"), st.integers(0, 30), VERDICTS),
    ),
    min_size=1,
    max_size=10,
)


def as_decision(letter: str) -> tuple[Verdict, list[Any]]:
    if letter == "N":
        return Verdict.NO_VIOLATION, []
    return Verdict.VIOLATION, categories("weapons" if letter == "C" else "hate")


def expected_target(finals: dict[int, str]) -> SubjectStatus:
    """CONTRACT §6 on the model's final verdicts, one per decided item."""
    violations = sum(1 for v in finals.values() if v != "N")
    return status_target(
        violations=violations,
        reviewed=len(finals),
        critical_violation="C" in finals.values(),
        rules=Rules(),
    ).status


@settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=OPS)
def test_figures_and_status_follow_the_final_decisions(acme, reviewer, senior, ops):
    with transaction.atomic():
        subjects = [SubjectFactory(organization=acme) for _ in range(2)]
        decisions: list[Decision] = []
        # The model: per user, item id → final verdict letter; and the status it expects.
        finals: list[dict[int, str]] = [{}, {}]
        status = [SubjectStatus.ACTIVE, SubjectStatus.ACTIVE]
        which = {s.pk: i for i, s in enumerate(subjects)}

        for op in ops:
            if op[0] == "decide":
                _, index, letter = op
                verdict, chosen = as_decision(letter)
                decision = decide(
                    subjects[index], verdict, *[c.slug for c in chosen], reviewer=reviewer
                )
                decisions.append(decision)
                finals[index][decision.item_id] = letter
                # Automatic actions only escalate.
                target = expected_target(finals[index])
                if STATUS_RANK[target] > STATUS_RANK[status[index]]:
                    status[index] = target
                continue
            if not decisions:
                continue
            decision = decisions[op[1] % len(decisions)]
            decision.refresh_from_db()
            index = which[FlaggedItem.objects.get(pk=decision.item_id).subject_id]
            try:
                if op[0] == "undo":
                    who = decision.reviewer
                    decision_undo(decision=decision, user=who)
                    finals[index].pop(decision.item_id, None)
                else:
                    verdict, chosen = as_decision(op[2])
                    new = decision_overturn(
                        item=FlaggedItem.objects.get(pk=decision.item_id),
                        user=senior,
                        verdict=verdict,
                        categories=chosen,
                        note="second look",
                    )
                    decisions.append(new)
                    finals[index][decision.item_id] = op[2]
            except (UndoRefused, OverturnRefused, DecisionInvalid):
                # Refused (too late, someone acted since, nothing to change, not decided):
                # nothing changed, in the model either.
                continue
            # A correction puts an automatic status where the thresholds now say.
            status[index] = expected_target(finals[index])

        for index, subject in enumerate(subjects):
            subject.refresh_from_db()
            standing = Decision.objects.final().filter(item__subject=subject)
            recount = (
                standing.filter(verdict=Verdict.VIOLATION).count(),
                standing.count(),
            )
            model = (sum(1 for v in finals[index].values() if v != "N"), len(finals[index]))
            assert (subject.violations, subject.reviewed) == recount == model
            assert subject.status == status[index]
            decided = set(
                FlaggedItem.objects.filter(subject=subject, state=ItemState.DECIDED).values_list(
                    "pk", flat=True
                )
            )
            assert decided == set(finals[index])
            # An open proposal rests only on decisions that still stand.
            for proposal in subject.actions.filter(state=ActionState.PROPOSED):
                assert all(d.voided_at is None for d in proposal.basis.all())
        transaction.set_rollback(True)
