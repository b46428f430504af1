"""Adjudication of a blind second review's disagreement (issue 10, CONTRACT §6 v2): a senior's
final verdict replaces the first decision, counts, and is scored in the quality report."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from accounts.roles import Role
from moderation.models import (
    AuditAction,
    AuditEvent,
    Decision,
    FlaggedItem,
    ItemState,
    ReviewQueue,
    SecondReview,
    SecondReviewState,
    Subject,
    Verdict,
    VoidReason,
)
from moderation.services import claims
from moderation.services.quality_report import Period, quality_report
from moderation.services.review import (
    ClaimConflict,
    DecisionInvalid,
    decision_overturn,
    decision_record,
)
from moderation.services.roles import role_assign
from moderation.services.undo import (
    UndoRefused,
    decision_undo,
    decision_undoable,
    undoable_decision,
)
from tests.factories import (
    FlaggedItemFactory,
    SecondReviewFactory,
    UserFactory,
    actions_of,
    categories,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def rita() -> Any:
    return UserFactory(username="rita", role=Role.REVIEWER)


@pytest.fixture
def vic() -> Any:
    return UserFactory(username="vic", role=Role.REVIEWER)


@pytest.fixture
def disagreement(rita: Any, vic: Any) -> SecondReview:
    """rita decided a violation of violence; vic, blind, said no violation."""
    review: Any = SecondReviewFactory(disagreed=True, first_reviewer=rita, reviewer=vic)
    return review


def adjudicate(
    review: SecondReview, senior: Any, verdict: str, *slugs: str, note: str = ""
) -> Decision:
    """The senior decides the escalated item as any escalated item is decided."""
    return decision_record(
        item=review.item,
        reviewer=senior,
        verdict=Verdict(verdict),
        categories=categories(*slugs),
        note=note,
    )


def figures(review: SecondReview) -> tuple[int, int]:
    subject = Subject.objects.get(pk=review.item.subject_id)
    return subject.reviewed, subject.violations


def won_lost(user: Any) -> tuple[int, int]:
    report = quality_report(period=Period.last_days(), reviewer_id=user.pk)
    (row,) = report.reviewers
    return row.adjudications_won, row.adjudications_lost


def test_it_makes_a_disagreement_for_tests(disagreement: SecondReview) -> None:
    assert disagreement.state == SecondReviewState.DISAGREED
    assert disagreement.first_decision.verdict == Verdict.VIOLATION
    assert disagreement.verdict == Verdict.NO_VIOLATION
    assert [c.slug for c in disagreement.first_decision.categories.all()] == ["violence"]
    assert list(disagreement.categories.all()) == []
    assert disagreement.item.state == ItemState.ESCALATED
    assert disagreement.item.queue == ReviewQueue.ESCALATED
    pending: Any = SecondReviewFactory()
    assert pending.state == SecondReviewState.PENDING and pending.reviewer is None
    assert pending.item.state == ItemState.DECIDED


def test_it_settles_with_the_first_answer(
    disagreement: SecondReview, senior: Any, rita: Any, vic: Any
) -> None:
    assert figures(disagreement) == (0, 0)
    first = disagreement.first_decision

    decision = adjudicate(disagreement, senior, Verdict.VIOLATION, "violence", note="A threat.")

    assert (decision.reviewer, decision.verdict, decision.note) == (
        senior,
        "violation",
        "A threat.",
    )
    assert decision.from_queue == ReviewQueue.ESCALATED and decision.content_seen
    first.refresh_from_db()
    assert first.void_reason == VoidReason.ADJUDICATED
    assert (first.voided_by, first.replaced_by) == (senior, decision)
    assert first.voided_at == decision.decided_at
    disagreement.refresh_from_db()
    assert disagreement.state == SecondReviewState.ADJUDICATED
    assert disagreement.adjudication == decision
    item = FlaggedItem.objects.get(pk=disagreement.item_id)
    assert item.state == ItemState.DECIDED and item.decided_at == decision.decided_at
    assert item.claimed_by is None
    assert list(Decision.objects.filter(item=item).final()) == [decision]
    assert figures(disagreement) == (1, 1)
    assert won_lost(rita) == (1, 0)
    assert won_lost(vic) == (0, 1)


def test_it_settles_with_the_second_answer(
    disagreement: SecondReview, senior: Any, rita: Any, vic: Any
) -> None:
    adjudicate(disagreement, senior, Verdict.NO_VIOLATION, note="Fiction, no threat.")

    assert figures(disagreement) == (1, 0)
    assert won_lost(rita) == (0, 1)
    assert won_lost(vic) == (1, 0)
    assert actions_of(Subject.objects.get(pk=disagreement.item.subject_id)) == []


def test_an_admin_settles_one_too(disagreement: SecondReview, admin_user: Any) -> None:
    decision = adjudicate(disagreement, admin_user, Verdict.NO_VIOLATION)
    assert decision.adjudicates == disagreement


def test_it_settles_an_item_the_senior_claimed_from_the_escalated_queue(
    disagreement: SecondReview, senior: Any
) -> None:
    item = claims.claim_next(user=senior, queue=ReviewQueue.ESCALATED)
    assert item is not None and item.pk == disagreement.item_id

    decision = adjudicate(disagreement, senior, Verdict.NO_VIOLATION)

    assert decision.claimed_at == item.claimed_at
    assert FlaggedItem.objects.get(pk=item.pk).lease_expires_at is None


def test_it_enforces_when_a_threshold_is_crossed(disagreement: SecondReview, senior: Any) -> None:
    adjudicate(disagreement, senior, Verdict.VIOLATION, "violence")

    subject = Subject.objects.get(pk=disagreement.item.subject_id)
    assert actions_of(subject) == [("warn", "taken", "threshold")]


@pytest.mark.parametrize("who", ["first", "second"])
def test_neither_reviewer_of_the_disagreement_settles_it(
    disagreement: SecondReview, who: str
) -> None:
    # Both promoted to senior since: still one of the two answers.
    answered: Any = (
        disagreement.first_decision.reviewer if who == "first" else disagreement.reviewer
    )
    role_assign(user=answered, role=Role.SENIOR)
    user = get_user_model().objects.get(pk=answered.pk)

    with pytest.raises(ClaimConflict, match="another senior or admin settles it"):
        adjudicate(disagreement, user, Verdict.VIOLATION, "violence")

    disagreement.refresh_from_db()
    assert disagreement.state == SecondReviewState.DISAGREED
    assert disagreement.first_decision.voided_at is None
    assert Decision.objects.count() == 1


def test_a_reviewer_does_not_settle_it(disagreement: SecondReview) -> None:
    other = UserFactory(role=Role.REVIEWER)
    with pytest.raises(ClaimConflict, match="Only seniors and admins"):
        adjudicate(disagreement, other, Verdict.NO_VIOLATION)


def test_it_refuses_an_escalation(disagreement: SecondReview, senior: Any) -> None:
    with pytest.raises(DecisionInvalid, match="choose Violation or No violation"):
        adjudicate(disagreement, senior, Verdict.ESCALATE, note="Not sure either")
    disagreement.refresh_from_db()
    assert disagreement.state == SecondReviewState.DISAGREED


def test_it_checks_the_verdict_as_any_decision(disagreement: SecondReview, senior: Any) -> None:
    with pytest.raises(DecisionInvalid, match="at least one policy category"):
        adjudicate(disagreement, senior, Verdict.VIOLATION)


def test_it_is_settled_once(disagreement: SecondReview, senior: Any, admin_user: Any) -> None:
    adjudicate(disagreement, senior, Verdict.NO_VIOLATION)
    with pytest.raises(ClaimConflict, match="already been decided"):
        adjudicate(disagreement, admin_user, Verdict.VIOLATION, "violence")


def test_it_audits_both_answers_and_the_settlement(disagreement: SecondReview, senior: Any) -> None:
    decision = adjudicate(disagreement, senior, Verdict.VIOLATION, "violence", note="A threat.")

    event = AuditEvent.objects.get(action=AuditAction.ITEM_ADJUDICATE)
    assert (event.actor, event.item_id) == (senior, disagreement.item_id)
    assert event.detail == {
        "first": {"reviewer": "rita", "verdict": "violation", "categories": ["violence"]},
        "second": {"reviewer": "vic", "verdict": "no_violation", "categories": []},
        "adjudicated": {"verdict": "violation", "categories": ["violence"]},
        "note": "A threat.",
        "decision": decision.pk,
        "replaces": disagreement.first_decision_id,
        "second_review": disagreement.pk,
        "content_seen": True,
    }


def test_an_adjudication_is_not_undone_but_overturned(
    disagreement: SecondReview, senior: Any, admin_user: Any
) -> None:
    decision = adjudicate(disagreement, senior, Verdict.VIOLATION, "violence")

    assert not decision_undoable(decision=decision, user=senior)
    assert undoable_decision(user=senior) is None
    with pytest.raises(UndoRefused, match="overturn the decision to correct it"):
        decision_undo(decision=decision, user=senior)
    assert figures(disagreement) == (1, 1)

    decision_overturn(
        item=disagreement.item,
        user=admin_user,
        verdict=Verdict.NO_VIOLATION,
        categories=[],
        note="Fiction after all.",
    )
    assert figures(disagreement) == (1, 0)


def test_the_first_reviewer_cannot_undo_the_replaced_decision(
    disagreement: SecondReview, senior: Any, rita: Any
) -> None:
    adjudicate(disagreement, senior, Verdict.NO_VIOLATION)
    with pytest.raises(UndoRefused, match="settled the disagreement"):
        decision_undo(decision=disagreement.first_decision, user=rita)


def test_an_ordinary_escalation_is_decided_as_before(senior: Any, rita: Any) -> None:
    item: Any = FlaggedItemFactory()
    decision_record(
        item=item, reviewer=rita, verdict=Verdict.ESCALATE, categories=[], note="unsure"
    )
    item.refresh_from_db()
    decision = decision_record(
        item=item, reviewer=senior, verdict=Verdict.NO_VIOLATION, categories=[], note=""
    )
    assert not AuditEvent.objects.filter(action=AuditAction.ITEM_ADJUDICATE).exists()
    assert decision_undoable(decision=decision, user=senior)
