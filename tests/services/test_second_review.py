"""Blind second review (issue 10, CONTRACT §6 v2): a share of final decisions waits for a second
reviewer who is not the first; the first decision counts only once the two agree."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.roles import Role
from moderation.models import (
    AuditAction,
    AuditEvent,
    Decision,
    FlaggedItem,
    ItemState,
    QualitySettings,
    ReviewQueue,
    SecondReview,
    SecondReviewState,
    Subject,
    Verdict,
)
from moderation.services import claims, second_review
from moderation.services.rates import subject_recount
from moderation.services.review import (
    ClaimConflict,
    DecisionInvalid,
    OverturnRefused,
    decision_overturn,
)
from moderation.services.undo import UndoRefused, decision_undo, undoable_decision
from tests.factories import (
    FlaggedItemFactory,
    GoldItemFactory,
    SubjectFactory,
    UserFactory,
    categories,
    decide,
    status_of,
)

pytestmark = pytest.mark.django_db

V, N, E = Verdict.VIOLATION, Verdict.NO_VIOLATION, Verdict.ESCALATE


def share(percent: int, *, all_removals: bool = False) -> None:
    QualitySettings.objects.update_or_create(
        pk=1,
        defaults={
            "second_review_percent": Decimal(percent),
            "second_review_all_removals": all_removals,
        },
    )


@pytest.fixture
def noor(db):
    return UserFactory(username="noor", role=Role.REVIEWER)


def figures(subject: Subject) -> tuple[int, int]:
    subject.refresh_from_db()
    return subject.violations, subject.reviewed


def test_at_0_percent_nothing_is_sampled(user, reviewer):
    share(0)
    decision = decide(user, V, reviewer=reviewer)
    assert not SecondReview.objects.exists()
    assert decision.item.state == ItemState.DECIDED
    assert figures(user) == (1, 1)


def test_at_100_percent_the_item_waits_for_a_second_reviewer_uncounted(user, reviewer):
    share(100)
    decision = decide(user, V, reviewer=reviewer)
    review = SecondReview.objects.get()
    assert review.first_decision == decision and review.state == SecondReviewState.PENDING
    item = FlaggedItem.objects.get(pk=decision.item_id)
    assert item.state == ItemState.PENDING and item.queue == ReviewQueue.STANDARD
    assert item.claimed_by is None and item.decided_at is None
    assert figures(user) == (0, 0)
    assert status_of(user) == "active"
    assert not Decision.objects.counted().exists()


def test_a_seeded_share_samples_about_that_share(user, reviewer, second_review_live):
    share(30)
    second_review.rng.seed(7)
    for _ in range(40):
        decide(user, N, reviewer=reviewer)
    sampled = SecondReview.objects.count()
    assert 4 <= sampled <= 24
    assert figures(user) == (0, 40 - sampled)


def test_escalations_and_escalated_queue_decisions_are_never_sampled(user, reviewer, senior):
    share(100)
    escalation = decide(user, E, reviewer=reviewer)
    decide(escalation.item, V, reviewer=senior)
    assert not SecondReview.objects.exists()
    assert figures(user) == (1, 1)


def test_a_served_golden_item_is_never_sampled(acme, reviewer):
    share(100)
    QualitySettings.objects.filter(pk=1).update(gold_percent=Decimal(100))
    GoldItemFactory(organization=acme)
    FlaggedItemFactory(organization=acme)
    item = claims.claim_next(user=reviewer)
    assert item.gold_id is not None
    decide(item, V, reviewer=reviewer)
    assert not SecondReview.objects.exists()


def test_all_removals_samples_the_decision_that_would_propose_a_removal(user, reviewer):
    share(0, all_removals=True)
    for _ in range(4):
        decide(user, V, reviewer=reviewer)
    assert not SecondReview.objects.exists()
    fifth = decide(user, V, reviewer=reviewer)
    assert SecondReview.objects.get().first_decision == fifth
    assert not user.actions.filter(kind="remove").exists()


def test_the_first_reviewer_never_gets_it_back(user, reviewer, noor):
    share(100)
    decision = decide(user, V, reviewer=reviewer)
    assert claims.claim_next(user=reviewer) is None
    assert claims.claim_next(user=reviewer, queue=ReviewQueue.STANDARD) is None
    with pytest.raises(ClaimConflict, match="second reviewer decides it blind"):
        decide(decision.item, N, reviewer=reviewer)
    assert claims.claim_next(user=noor) == decision.item


def test_a_skip_or_an_expired_lease_returns_it_to_the_pool(user, reviewer, noor):
    share(100)
    decision = decide(user, V, reviewer=reviewer)
    item = claims.claim_next(user=noor)
    assert claims.claim_release(item=item, user=noor)
    item.refresh_from_db()
    assert item.state == ItemState.PENDING and item.claimed_by is None
    assert claims.claim_next(user=reviewer) is None
    item = claims.claim_next(user=noor)
    FlaggedItem.objects.filter(pk=item.pk).update(lease_expires_at=timezone.now())
    claims.claims_expire()
    item.refresh_from_db()
    assert item.state == ItemState.PENDING
    assert SecondReview.objects.get().state == SecondReviewState.PENDING
    assert decision.pk


def test_agreement_counts_and_acts_then_not_before(user, reviewer, noor):
    share(100)
    decision = decide(user, V, "hate", reviewer=reviewer)
    assert figures(user) == (0, 0) and not user.actions.exists()
    item = claims.claim_next(user=noor)
    returned = decide(item, V, "violence", reviewer=noor)
    assert returned == decision
    review = SecondReview.objects.get()
    assert review.state == SecondReviewState.AGREED and review.reviewer == noor
    assert review.verdict == V and [c.slug for c in review.categories.all()] == ["violence"]
    assert review.decided_at is not None
    assert Decision.objects.count() == 1
    item.refresh_from_db()
    assert item.state == ItemState.DECIDED and item.decided_at == decision.decided_at
    assert figures(user) == (1, 1)
    assert status_of(user) == "warned"
    event = AuditEvent.objects.filter(action=AuditAction.ITEM_DECIDE, actor=noor).get()
    assert event.detail["second_review"] is True and event.detail["outcome"] == "agreed"


def test_disagreement_escalates_and_counts_nothing(user, reviewer, noor):
    share(100)
    decide(user, V, reviewer=reviewer)
    item = claims.claim_next(user=noor)
    decide(item, N, reviewer=noor)
    review = SecondReview.objects.get()
    assert review.state == SecondReviewState.DISAGREED and review.verdict == N
    item.refresh_from_db()
    assert item.state == ItemState.ESCALATED and item.queue == ReviewQueue.ESCALATED
    assert item.claimed_by is None
    assert figures(user) == (0, 0) and not user.actions.exists()


def test_an_escalation_by_the_second_reviewer_is_a_disagreement(user, reviewer, noor):
    share(100)
    decide(user, N, reviewer=reviewer)
    item = claims.claim_next(user=noor)
    decide(item, E, reviewer=noor, note="not sure")
    review = SecondReview.objects.get()
    assert review.state == SecondReviewState.DISAGREED and review.verdict == ""
    assert review.note == "not sure"
    assert FlaggedItem.objects.get(pk=item.pk).queue == ReviewQueue.ESCALATED


def test_the_first_reviewer_may_undo_while_it_waits(user, reviewer):
    share(100)
    decision = decide(user, V, reviewer=reviewer)
    assert undoable_decision(user=reviewer) == decision
    item = decision_undo(decision=decision, user=reviewer)
    assert not SecondReview.objects.exists()
    assert item.state == ItemState.CLAIMED and item.claimed_by == reviewer
    assert figures(user) == (0, 0)


def test_no_undo_once_a_second_reviewer_holds_or_answered(user, reviewer, noor):
    share(100)
    decision = decide(user, V, reviewer=reviewer)
    item = claims.claim_next(user=noor)
    with pytest.raises(UndoRefused, match="taken this item up"):
        decision_undo(decision=decision, user=reviewer)
    decide(item, V, reviewer=noor)
    with pytest.raises(UndoRefused, match="reviewed this decision"):
        decision_undo(decision=decision, user=reviewer)


def test_a_second_answer_is_not_offered_for_undo(user, reviewer, noor):
    share(100)
    decide(user, V, reviewer=reviewer)
    share(0)
    own = decide(SubjectFactory(organization=user.organization), N, reviewer=noor)
    assert undoable_decision(user=noor) == own
    item = claims.claim_next(user=noor)
    decide(item, V, reviewer=noor)
    assert undoable_decision(user=noor) is None


@pytest.mark.parametrize("disagree", [False, True])
def test_an_overturn_ends_the_second_review_and_counts(user, reviewer, noor, senior, disagree):
    share(100)
    decision = decide(user, V, reviewer=reviewer)
    if disagree:
        decide(claims.claim_next(user=noor), N, reviewer=noor)
    new = decision_overturn(
        item=decision.item, user=senior, verdict=N, categories=[], note="read it again"
    )
    review = SecondReview.objects.get()
    assert review.state == SecondReviewState.ADJUDICATED and review.adjudication == new
    item = FlaggedItem.objects.get(pk=decision.item_id)
    assert item.state == ItemState.DECIDED and item.queue == ReviewQueue.STANDARD
    assert figures(user) == (0, 1)
    if not disagree:
        with pytest.raises(ClaimConflict):
            decide(item, V, reviewer=noor)


# --- figures always equal a recount from counted final decisions ------------------------

STEPS = st.lists(
    st.tuples(
        st.sampled_from(["decide", "answer", "undo", "overturn", "adjudicate"]),
        st.integers(0, 2),
        st.sampled_from([V, N]),
        st.booleans(),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS)
def test_figures_always_equal_a_recount_of_counted_decisions(acme, steps):
    """Random decisions, second answers, undos, overturns and adjudications (issue 10)."""
    with transaction.atomic():
        sid = transaction.savepoint()
        first = UserFactory(role=Role.REVIEWER)
        second = UserFactory(role=Role.REVIEWER)
        senior = UserFactory(role=Role.SENIOR)
        subjects = [SubjectFactory(organization=acme) for _ in range(3)]
        for action, n, verdict, sampled in steps:
            share(100 if sampled else 0)
            subject = subjects[n]
            slugs = ("violence",) if verdict == V else ()
            if action == "decide":
                decide(subject, verdict, *slugs, reviewer=first)
            elif action == "answer":
                item = claims.claim_next(user=second)
                if item is not None:
                    decide(item, verdict, *slugs, reviewer=second)
            elif action == "undo":
                latest = undoable_decision(user=first)
                if latest is not None:
                    decision_undo(decision=latest, user=first)
                    claims.claims_release_held(user=first, reason="test")
            elif action == "adjudicate":
                review = (
                    SecondReview.objects.filter(state=SecondReviewState.DISAGREED)
                    .select_related("item")
                    .order_by("pk")
                    .first()
                )
                if review is not None:
                    decide(review.item, verdict, *slugs, reviewer=senior)
            else:
                standing = (
                    Decision.objects.final().filter(item__subject=subject).order_by("-pk").first()
                )
                if standing is not None:
                    other = N if standing.verdict == V else V
                    try:
                        decision_overturn(
                            item=standing.item,
                            user=senior,
                            verdict=other,
                            categories=categories("violence") if other == V else [],
                            note="again",
                        )
                    except (OverturnRefused, DecisionInvalid):
                        pass  # the item waits in someone's hands or for a second answer
        for subject in subjects:
            stored = figures(subject)
            counted = Decision.objects.counted().filter(item__subject=subject)
            expected = (
                counted.filter(verdict=V, allowed_by__isnull=True).count(),
                counted.count(),
            )
            assert stored == expected
            assert (subject_recount(subject=subject).violations, subject.reviewed) == stored
        transaction.savepoint_rollback(sid)


def test_a_disagreement_is_settled_by_a_seniors_decision(user, reviewer, noor, senior):
    share(100)
    first = decide(user, V, reviewer=reviewer)
    item = claims.claim_next(user=noor)
    decide(item, E, reviewer=noor, note="not sure")
    assert figures(user) == (0, 0)
    decide(FlaggedItem.objects.get(pk=item.pk), N, reviewer=senior)
    review = SecondReview.objects.get()
    assert review.state == SecondReviewState.ADJUDICATED
    assert review.adjudication is not None and review.adjudication.reviewer == senior
    first.refresh_from_db()
    assert first.voided_at is not None
    assert FlaggedItem.objects.get(pk=item.pk).state == ItemState.DECIDED
    assert figures(user) == (0, 1)
