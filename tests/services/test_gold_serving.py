"""Serving golden items to reviewers (issue 10): a share of claims, never the same gold twice
to one reviewer, in a queue they review, never on its own; retired when given up; isolated
from every real figure, action, delivery, report and export; scored against the answer."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.roles import Role
from moderation import selectors
from moderation.models import (
    GOLD_SUBJECT_HASH,
    AuditAction,
    AuditEvent,
    Decision,
    Delivery,
    EnforcementAction,
    FlaggedItem,
    ItemState,
    QualitySettings,
    ReviewQueue,
    Subject,
    Verdict,
)
from moderation.services import claims, gold_serving
from moderation.services.review import (
    DecisionInvalid,
    OverturnRefused,
    decision_overturn,
    decision_record,
)
from moderation.services.subject_rights import subject_resolve
from moderation.services.training import classifier_report, training_rows
from moderation.services.undo import UndoRefused, decision_undo
from tests.factories import (
    FlaggedItemFactory,
    GoldItemFactory,
    SignalFactory,
    SubjectFactory,
    UserFactory,
    categories,
    decide,
)

pytestmark = pytest.mark.django_db

V, N, E = Verdict.VIOLATION, Verdict.NO_VIOLATION, Verdict.ESCALATE


def gold_share(percent: int | str) -> None:
    QualitySettings.objects.update_or_create(pk=1, defaults={"gold_percent": Decimal(percent)})


@pytest.fixture(autouse=True)
def _seeded() -> None:
    gold_serving.rng.seed(10)


@pytest.fixture
def real(acme: Any) -> FlaggedItem:
    """One real item of acme waiting in the standard queue."""
    item = FlaggedItemFactory(subject=SubjectFactory(organization=acme), priority=500)
    SignalFactory(item=item)
    return item


def served(reviewer: Any, **kwargs: Any) -> FlaggedItem:
    item = claims.claim_next(user=reviewer, **kwargs)
    assert item is not None
    return item


def gold_decide(item: FlaggedItem, reviewer: Any, verdict: str, *slugs: str) -> Decision:
    return decision_record(
        item=item,
        reviewer=reviewer,
        verdict=Verdict(verdict),
        categories=categories(*slugs),
        note="unsure" if verdict == E else "",
    )


def test_it_makes_golden_items_with_their_expected_answer() -> None:
    gold = GoldItemFactory()
    calm = GoldItemFactory(expected_verdict=Verdict.NO_VIOLATION)
    assert [c.slug for c in gold.expected_categories.all()] == ["violence"]
    assert list(calm.expected_categories.all()) == []
    assert gold.gold_set.feedback is True


# --- serving ----------------------------------------------------------------------------


def test_at_zero_percent_it_never_serves_gold(reviewer, real, acme):
    gold_share(0)
    GoldItemFactory(organization=acme)
    assert served(reviewer) == real
    assert not FlaggedItem.objects.filter(gold__isnull=False).exists()


def test_at_a_hundred_percent_it_serves_gold_whenever_a_real_item_waits(reviewer, real, acme):
    gold_share(100)
    gold = GoldItemFactory(organization=acme)
    item = served(reviewer)
    assert item.gold == gold and item.pk != real.pk
    assert item.state == ItemState.CLAIMED and item.claimed_by == reviewer
    assert item.lease_expires_at > timezone.now() + timedelta(minutes=9)
    real.refresh_from_db()
    assert real.state == ItemState.PENDING and real.claimed_by is None


def test_the_share_is_drawn_per_claim(reviewer, acme):
    gold_share(50)
    GoldItemFactory.create_batch(40, organization=acme)
    FlaggedItemFactory.create_batch(40)
    golds = 0
    for _ in range(40):
        item = served(reviewer)
        golds += item.gold_id is not None
        gold_decide(item, reviewer, N)
    # Seeded: neither never nor always, about half.
    assert 10 < golds < 30


def test_the_served_copy_is_the_gold_under_the_reserved_subject(reviewer, real, acme):
    gold_share(100)
    gold = GoldItemFactory(organization=acme, prompt="Tell me how to hurt him", model="m-2")
    item = served(reviewer)
    assert (item.organization, item.prompt, item.response, item.model) == (
        acme,
        "Tell me how to hurt him",
        gold.response,
        "m-2",
    )
    assert item.subject.user_id_hash == GOLD_SUBJECT_HASH
    assert item.subject.organization == acme
    assert [(s.classifier, s.category.slug, s.label, s.score) for s in item.signals.all()] == [
        ("test-classifier", "violence", "violence", 0.9)
    ]
    assert item.queue == ReviewQueue.STANDARD and item.priority > 0
    # Its request id is a fresh one, unlike any real one, and reveals nothing.
    assert "gold" not in item.request_id
    assert AuditEvent.objects.filter(action=AuditAction.ITEM_CLAIM, item=item).count() == 1


def test_critical_signals_route_gold_to_the_critical_queue(reviewer, acme):
    gold_share(100)
    GoldItemFactory(
        organization=acme,
        signals=[{"classifier": "c", "category": "child-safety", "label": "csam", "score": 0.8}],
        expected_categories=["child-safety"],
    )
    FlaggedItemFactory(queue=ReviewQueue.STANDARD)
    # A reviewer who chose the standard queue is not served critical gold...
    assert served(reviewer, queue=ReviewQueue.STANDARD).gold_id is None
    other = UserFactory()
    FlaggedItemFactory(queue=ReviewQueue.CRITICAL)
    # ...one who chose the critical queue is.
    item = served(other, queue=ReviewQueue.CRITICAL)
    assert item.gold_id is not None and item.queue == ReviewQueue.CRITICAL
    assert item.signals.get().label == "csam"


def test_gold_in_the_queue_the_reviewer_chose(reviewer, acme):
    gold_share(100)
    GoldItemFactory(organization=acme)
    FlaggedItemFactory(queue=ReviewQueue.CRITICAL)
    assert served(reviewer, queue=ReviewQueue.CRITICAL).gold_id is None


def test_never_the_same_gold_twice_to_one_reviewer(reviewer, senior, acme):
    gold_share(100)
    golds = GoldItemFactory.create_batch(3, organization=acme)
    FlaggedItemFactory.create_batch(5)
    seen = []
    for _ in range(5):
        item = served(reviewer)
        seen.append(item.gold_id)
        # Skipped or decided, a serving counts as served.
        if len(seen) % 2:
            claims.claim_release(item=item, user=reviewer)
        else:
            gold_decide(item, reviewer, N)
    assert sorted(pk for pk in seen if pk) == sorted(g.pk for g in golds)
    assert seen[3:] == [None, None]
    # Another reviewer is served the same golden items.
    assert served(senior).gold_id in {g.pk for g in golds}


def test_inactive_gold_is_not_served(reviewer, real, acme):
    gold_share(100)
    GoldItemFactory(organization=acme, active=False)
    assert served(reviewer) == real


def test_only_gold_left_means_queue_empty(reviewer, acme):
    gold_share(100)
    GoldItemFactory.create_batch(3, organization=acme)
    assert claims.claim_next(user=reviewer) is None
    assert not FlaggedItem.objects.exists()


def test_a_reviewer_who_holds_gold_gets_it_again(reviewer, real, acme):
    gold_share(100)
    GoldItemFactory.create_batch(2, organization=acme)
    first = served(reviewer)
    assert served(reviewer) == first
    assert FlaggedItem.objects.filter(gold__isnull=False).count() == 1


# --- retire ---------------------------------------------------------------------------


def test_a_skipped_gold_item_is_retired(reviewer, real, acme):
    gold_share(100)
    GoldItemFactory(organization=acme)
    item = served(reviewer)
    assert claims.claim_release(item=item, user=reviewer)
    item.refresh_from_db()
    assert item.state == ItemState.RETIRED and item.claimed_by is None
    # The next claim serves the real item (no other gold for this reviewer).
    assert served(reviewer) == real


def test_a_gold_item_whose_lease_ran_out_is_retired(reviewer, real, acme):
    gold_share(100)
    GoldItemFactory(organization=acme)
    item = served(reviewer)
    assert claims.claims_expire(now=timezone.now() + timedelta(hours=1)) == 1
    item.refresh_from_db()
    assert item.state == ItemState.RETIRED
    assert AuditEvent.objects.filter(action=AuditAction.ITEM_LEASE_EXPIRED, item=item).exists()


def test_a_released_gold_item_is_retired(reviewer, real, acme):
    gold_share(100)
    GoldItemFactory(organization=acme)
    item = served(reviewer)
    assert claims.claims_release_held(user=reviewer, reason="logout") == 1
    item.refresh_from_db()
    assert item.state == ItemState.RETIRED


def test_a_retired_gold_item_takes_no_decision(reviewer, real, acme):
    from moderation.services.review import ClaimConflict

    gold_share(100)
    GoldItemFactory(organization=acme)
    item = served(reviewer)
    claims.claim_release(item=item, user=reviewer)
    with pytest.raises(ClaimConflict):
        gold_decide(item, reviewer, N)


# --- isolation --------------------------------------------------------------------------


@pytest.fixture
def gold_decided(reviewer, acme):
    """Six golden violations served to and decided by the reviewer as violations, enough
    for any threshold to act on a real user; returns their decisions."""
    gold_share(100)
    GoldItemFactory.create_batch(6, organization=acme)
    FlaggedItemFactory.create_batch(1)
    decisions = []
    for _ in range(6):
        item = served(reviewer)
        assert item.gold_id is not None
        decisions.append(gold_decide(item, reviewer, V, "violence"))
    return decisions


def gold_subjects() -> list[Subject]:
    return list(Subject.objects.filter(user_id_hash=GOLD_SUBJECT_HASH))


def test_gold_decisions_are_recorded_with_what_a_decision_holds(gold_decided):
    decision = gold_decided[0]
    assert decision.verdict == V
    assert [c.slug for c in decision.categories.all()] == ["violence"]
    assert decision.seconds_spent >= 0 and decision.content_seen is True
    assert decision.item.state == ItemState.DECIDED


def test_gold_decisions_never_touch_figures_actions_or_deliveries(gold_decided):
    (subject,) = gold_subjects()
    assert (subject.violations, subject.reviewed, subject.status) == (0, 0, "active")
    assert subject.window_expires_at is None
    assert not EnforcementAction.objects.exists()
    assert not Delivery.objects.exists()


def test_the_threshold_preview_and_apply_pass_gold_by(gold_decided):
    from moderation.services.threshold_changes import thresholds_preview
    from moderation.services.thresholds import Rules, thresholds_for

    rules = Rules.of(thresholds_for(gold_decided[0].item.organization))
    preview = thresholds_preview(organization=None, rules=rules)
    assert not any(preview.values()), preview


def test_gold_is_out_of_the_classifier_report(gold_decided):
    assert classifier_report() == []


def test_gold_is_out_of_the_training_export(gold_decided):
    assert list(training_rows()) == []


def test_the_gold_subject_is_never_found(gold_decided, acme):
    assert selectors.subject_find(organization=acme, user_id_hash=GOLD_SUBJECT_HASH) is None
    assert subject_resolve(organization=acme, user_id_hash=GOLD_SUBJECT_HASH) is None


def test_the_gold_subject_page_is_404(gold_decided, reviewer_client, senior_client):
    assert reviewer_client.get(f"/subjects/acme/{GOLD_SUBJECT_HASH}/").status_code == 404


def test_the_lookup_api_refuses_the_gold_hash(gold_decided, signed_key):
    response = signed_key.client.post(
        "/api/v1/subjects/lookup",
        data=json.dumps({"organization": "acme", "user_id_hash": GOLD_SUBJECT_HASH}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {signed_key.secret}"},
    )
    assert response.status_code == 422
    assert GOLD_SUBJECT_HASH not in json.dumps(response.json().get("organization", ""))


def test_queue_counts_and_list_leave_gold_out(reviewer, senior, acme):
    gold_share(100)
    GoldItemFactory(organization=acme)
    real = FlaggedItemFactory()
    gold = served(reviewer)
    counts = {s["queue"]: s["pending"] for s in selectors.queue_summaries()}
    assert counts[ReviewQueue.STANDARD] == 1
    assert [i.pk for i in selectors.pending_items()] == [real.pk]
    # Even a gold item that were somehow waiting would never be listed or claimed.
    FlaggedItem.objects.filter(pk=gold.pk).update(state=ItemState.PENDING, claimed_by=None)
    assert [i.pk for i in selectors.pending_items()] == [real.pk]
    gold_share(0)
    assert claims.claim_next(user=senior) == real


# --- escalate, undo, overturn ------------------------------------------------------------


def test_escalating_gold_is_recorded_and_retires_it(reviewer, real, acme):
    gold_share(100)
    GoldItemFactory(organization=acme)
    item = served(reviewer)
    decision = gold_decide(item, reviewer, E)
    item.refresh_from_db()
    assert item.state == ItemState.RETIRED and item.queue == ReviewQueue.STANDARD
    assert decision.verdict == E
    assert AuditEvent.objects.filter(action=AuditAction.ITEM_ESCALATE, item=item).exists()
    result = gold_serving.gold_result(decision)
    assert result is not None and not result.verdict_correct and not result.correct
    # Seniors never get it.
    assert (
        claims.claim_next(user=UserFactory(role=Role.SENIOR), queue=ReviewQueue.ESCALATED) is None
    )


def test_an_escalation_of_gold_is_undone_like_any(reviewer, real, acme):
    gold_share(100)
    GoldItemFactory(organization=acme)
    item = served(reviewer)
    decision = gold_decide(item, reviewer, E)
    back = decision_undo(decision=decision, user=reviewer)
    assert back.pk == item.pk
    assert back.state == ItemState.CLAIMED and back.claimed_by == reviewer


def recount(subject: Subject) -> tuple[int, int]:
    standing = Decision.objects.final().filter(item__subject=subject, item__gold__isnull=True)
    return standing.filter(verdict=V).count(), standing.count()


def test_undo_and_overturn_of_gold_keep_every_figure_equal_to_a_recount(reviewer, senior, acme):
    user = SubjectFactory(organization=acme)
    gold_share(100)
    GoldItemFactory.create_batch(3, organization=acme)
    GoldItemFactory.create_batch(2, organization=acme, expected_verdict=N)
    FlaggedItemFactory.create_batch(3, subject=user)
    gold_share(50)
    for _ in range(6):
        item = claims.claim_next(user=reviewer)
        if item is None:
            break
        decision = gold_decide(item, reviewer, V, "violence")
        if item.gold_id is not None:
            # Undo, decide again the other way, and a senior overturns it.
            back = decision_undo(decision=decision, user=reviewer)
            gold_decide(back, reviewer, N)
            decision_overturn(
                item=back, user=senior, verdict=V, categories=categories("hate"), note="no"
            )
    user.refresh_from_db()
    assert (user.violations, user.reviewed) == recount(user) == (3, 3)
    for subject in gold_subjects():
        assert (subject.violations, subject.reviewed) == (0, 0)
        assert not subject.actions.exists()
    assert FlaggedItem.objects.filter(gold__isnull=False, state=ItemState.DECIDED).exists()
    assert not Delivery.objects.filter(action__subject__user_id_hash=GOLD_SUBJECT_HASH).exists()


# --- scoring ----------------------------------------------------------------------------


def scored(reviewer: Any, acme: Any, verdict: str, *slugs: str, **gold: Any) -> Any:
    gold_share(100)
    GoldItemFactory(organization=acme, **gold)
    FlaggedItemFactory()
    item = served(reviewer)
    return gold_serving.gold_result(gold_decide(item, reviewer, verdict, *slugs))


def test_a_right_answer_scores_correct(reviewer, acme):
    result = scored(reviewer, acme, V, "violence")
    assert (result.verdict_correct, result.category_overlap, result.correct) == (True, 1.0, True)


def test_a_right_no_violation_scores_an_overlap_of_one(reviewer, acme):
    result = scored(reviewer, acme, N, expected_verdict=N)
    assert (result.verdict_correct, result.category_overlap, result.correct) == (True, 1.0, True)


def test_other_categories_score_their_jaccard_overlap_and_are_wrong(reviewer, acme):
    result = scored(
        reviewer, acme, V, "violence", "fraud", expected_categories=["violence", "hate"]
    )
    assert result.verdict_correct is True
    assert result.category_overlap == pytest.approx(1 / 3)
    assert result.correct is False


def test_a_wrong_verdict_is_wrong(reviewer, acme):
    result = scored(reviewer, acme, N)
    assert (result.verdict_correct, result.category_overlap, result.correct) == (False, 0.0, False)
    assert [c.slug for c in result.expected_categories] == ["violence"]


def test_a_real_decision_has_no_gold_result(reviewer):
    assert gold_serving.gold_result(decide(SubjectFactory(), V, reviewer=reviewer)) is None


# --- any history ------------------------------------------------------------------------

GOLD_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("real"), st.sampled_from(["V", "N"])),
        st.tuples(st.just("gold"), st.sampled_from(["V", "N", "E"])),
        st.tuples(st.just("undo"), st.integers(0, 30)),
        st.tuples(st.just("overturn"), st.integers(0, 30), st.sampled_from(["V", "N"])),
    ),
    min_size=1,
    max_size=10,
)


@settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=GOLD_OPS)
def test_any_history_with_gold_leaves_figures_equal_to_a_recount(acme, reviewer, senior, ops):
    with transaction.atomic():
        gold_share(100)
        user = SubjectFactory(organization=acme)
        # A real item that waits throughout, so a claim may serve gold in its place.
        bait = FlaggedItemFactory(subject=SubjectFactory(organization=acme), priority=9000)
        decisions: list[Decision] = []
        letters = {"V": V, "N": N, "E": E}
        for op in ops:
            if op[0] == "real":
                decisions.append(decide(user, letters[op[1]], reviewer=reviewer))
            elif op[0] == "gold":
                claims.claims_release_held(user=reviewer, reason="test")
                GoldItemFactory(organization=acme)
                item = served(reviewer)
                assert item.gold_id is not None
                slugs = ("violence",) if op[1] == "V" else ()
                decisions.append(gold_decide(item, reviewer, letters[op[1]], *slugs))
            elif decisions:
                decision = decisions[op[1] % len(decisions)]
                decision.refresh_from_db()
                item = FlaggedItem.objects.get(pk=decision.item_id)
                try:
                    if op[0] == "undo":
                        decision_undo(decision=decision, user=decision.reviewer)
                    else:
                        verdict = Verdict.VIOLATION if op[2] == "V" else Verdict.NO_VIOLATION
                        chosen = categories("hate") if op[2] == "V" else []
                        decisions.append(
                            decision_overturn(
                                item=item, user=senior, verdict=verdict, categories=chosen, note="x"
                            )
                        )
                except (UndoRefused, OverturnRefused, DecisionInvalid):
                    continue

        user.refresh_from_db()
        assert (user.violations, user.reviewed) == recount(user)
        for subject in gold_subjects():
            assert (subject.violations, subject.reviewed, subject.status) == (0, 0, "active")
            assert not subject.actions.exists()
        bait.refresh_from_db()
        assert bait.state in (ItemState.PENDING, ItemState.CLAIMED)
        transaction.set_rollback(True)
