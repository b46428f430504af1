"""Violation rates (CONTRACT §6): final decisions over a rolling window, recounted as it rolls."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from moderation.models import Decision, Subject, SubjectStatus, Thresholds, Verdict
from moderation.services import claims
from moderation.services.rates import rates_roll_forward, subject_recount
from tests.factories import SubjectFactory, decide

pytestmark = pytest.mark.django_db

WINDOW = timedelta(days=30)


@pytest.fixture
def subject(acme) -> Subject:
    return SubjectFactory(organization=acme)


def stored(subject: Subject) -> tuple[int, int]:
    subject.refresh_from_db()
    return subject.violations, subject.reviewed


def test_it_keeps_the_figures_current_with_each_decision(subject, reviewer):
    decide(subject, Verdict.VIOLATION, reviewer=reviewer)
    assert stored(subject) == (1, 1)
    decide(subject, Verdict.NO_VIOLATION, reviewer=reviewer)
    decide(subject, Verdict.NO_VIOLATION, reviewer=reviewer)
    assert stored(subject) == (1, 3)
    assert subject.violation_rate == pytest.approx(1 / 3)


def test_it_counts_decisions_inside_the_window_and_not_older_ones(subject, reviewer):
    decide(subject, Verdict.VIOLATION, reviewer=reviewer, ago=timedelta(days=29, hours=23))
    decide(subject, Verdict.VIOLATION, reviewer=reviewer, ago=timedelta(days=30, minutes=1))
    decide(subject, Verdict.NO_VIOLATION, reviewer=reviewer, ago=timedelta(days=45))
    decide(subject, Verdict.NO_VIOLATION, reviewer=reviewer, ago=timedelta(days=1))
    figures = subject_recount(subject=subject)
    assert (figures.violations, figures.reviewed) == (1, 2)
    assert figures.rate == 0.5
    assert stored(subject) == (1, 2)


def test_a_decision_exactly_a_window_old_has_left_it(subject, reviewer):
    decision = decide(subject, Verdict.VIOLATION, reviewer=reviewer)
    decision.refresh_from_db()
    assert subject_recount(subject=subject, now=decision.decided_at + WINDOW).reviewed == 0
    almost = decision.decided_at + WINDOW - timedelta(microseconds=1)
    assert subject_recount(subject=subject, now=almost).reviewed == 1


def test_it_stores_when_the_oldest_counted_decision_leaves_the_window(subject, reviewer):
    now = timezone.now()
    decide(subject, Verdict.VIOLATION, reviewer=reviewer, ago=timedelta(days=40))
    oldest = decide(subject, Verdict.NO_VIOLATION, reviewer=reviewer, ago=timedelta(days=12))
    decide(subject, Verdict.VIOLATION, reviewer=reviewer, ago=timedelta(days=2))
    subject_recount(subject=subject, now=now)
    subject.refresh_from_db()
    oldest.refresh_from_db()
    assert (subject.violations, subject.reviewed) == (1, 2)
    assert subject.window_expires_at == oldest.decided_at + WINDOW
    assert subject.updated_at == now


def test_a_subject_with_nothing_in_the_window_has_no_expiry(subject, reviewer):
    decide(subject, Verdict.VIOLATION, reviewer=reviewer, ago=timedelta(days=31))
    subject_recount(subject=subject)
    subject.refresh_from_db()
    assert (subject.violations, subject.reviewed, subject.window_expires_at) == (0, 0, None)
    assert subject.violation_rate == 0.0


def test_an_escalation_is_not_counted(subject, reviewer, senior):
    decide(subject, Verdict.ESCALATE, reviewer=reviewer)
    assert stored(subject) == (0, 0)
    subject.refresh_from_db()
    assert subject.window_expires_at is None
    # The senior's final decision on the escalated item counts, once.
    item = claims.claim_next(user=senior)
    assert item.subject == subject
    decide(item, Verdict.VIOLATION, "hate", reviewer=senior)
    assert stored(subject) == (1, 1)
    assert Decision.objects.filter(item=item).count() == 2


def test_it_names_the_categories_and_whether_one_is_critical(subject, reviewer):
    decide(subject, Verdict.VIOLATION, "hate", "violence", reviewer=reviewer)
    decide(subject, Verdict.VIOLATION, "hate", reviewer=reviewer)
    figures = subject_recount(subject=subject)
    assert figures.categories == ["hate", "violence"]
    assert figures.critical_violation is False
    decide(subject, Verdict.VIOLATION, "weapons", reviewer=reviewer)
    figures = subject_recount(subject=subject)
    assert figures.categories == ["hate", "violence", "weapons"]
    assert figures.critical_violation is True


def test_a_critical_violation_that_left_the_window_no_longer_counts(subject, reviewer):
    decide(subject, Verdict.VIOLATION, "weapons", reviewer=reviewer, ago=timedelta(days=31))
    decide(subject, Verdict.VIOLATION, "hate", reviewer=reviewer)
    figures = subject_recount(subject=subject)
    assert figures.critical_violation is False and figures.categories == ["hate"]


def test_the_window_is_the_organizations_own(acme, globex, reviewer):
    Thresholds.objects.create(organization=acme, window_days=7)
    mine, theirs = SubjectFactory(organization=acme), SubjectFactory(organization=globex)
    for subject in (mine, theirs):
        decide(subject, Verdict.VIOLATION, reviewer=reviewer, ago=timedelta(days=10))
        decide(subject, Verdict.VIOLATION, reviewer=reviewer, ago=timedelta(days=3))
    now = timezone.now()
    assert subject_recount(subject=mine, now=now).violations == 1
    assert subject_recount(subject=theirs, now=now).violations == 2
    mine.refresh_from_db()
    recent = Decision.objects.filter(item__subject=mine).order_by("-decided_at").first()
    assert mine.window_expires_at == recent.decided_at + timedelta(days=7)


# --- rolling forward ---------------------------------------------------------------------


@pytest.fixture
def rolling(acme, reviewer):
    """A user restricted by three violations, 20, 10 and 0 days old; another user whose
    decisions are all recent."""
    now = timezone.now()
    old = SubjectFactory(organization=acme)
    for days in (20, 10, 0):
        decide(old, Verdict.VIOLATION, reviewer=reviewer, ago=timedelta(days=days), now=now)
    subject_recount(subject=old, now=now)
    fresh = SubjectFactory(organization=acme)
    # Made at the test's `now` too: on a busy machine the real clock is seconds past it.
    decide(fresh, Verdict.VIOLATION, reviewer=reviewer, ago=timedelta(0), now=now)
    subject_recount(subject=fresh, now=now)
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.status == SubjectStatus.RESTRICTED and (old.violations, old.reviewed) == (3, 3)
    return now, old, fresh


def test_rolling_forward_recounts_nobody_before_a_decision_leaves(rolling):
    now, old, fresh = rolling
    assert rates_roll_forward(now=now + timedelta(days=9)) == 0
    assert stored(old) == (3, 3)


def test_rolling_forward_recounts_only_the_subjects_that_are_due(rolling):
    now, old, fresh = rolling
    fresh_updated = fresh.updated_at
    assert rates_roll_forward(now=now + timedelta(days=10, seconds=1)) == 1
    assert stored(old) == (2, 2)
    assert old.window_expires_at > now + timedelta(days=19)
    fresh.refresh_from_db()
    assert fresh.updated_at == fresh_updated and (fresh.violations, fresh.reviewed) == (1, 1)


def test_rolling_forward_follows_each_decision_out_of_the_window(rolling):
    now, old, _ = rolling
    seen = []
    for days in (10, 20, 30):
        rates_roll_forward(now=now + timedelta(days=days, seconds=1))
        seen.append(stored(old))
    assert seen == [(2, 2), (1, 1), (0, 0)]
    old.refresh_from_db()
    assert old.window_expires_at is None
    assert rates_roll_forward(now=now + timedelta(days=400)) == 0


def test_status_never_de_escalates_by_itself(rolling):
    now, old, fresh = rolling
    rates_roll_forward(now=now + timedelta(days=31))
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert (old.violations, old.reviewed) == (0, 0)
    assert old.status == SubjectStatus.RESTRICTED
    assert fresh.status == SubjectStatus.WARNED


def test_rolling_forward_takes_the_longest_due_first_up_to_its_limit(rolling):
    now, old, fresh = rolling
    later = now + timedelta(days=31)
    assert rates_roll_forward(now=later, limit=1) == 1
    assert stored(old) == (0, 0)
    assert stored(fresh) == (1, 1)
    assert rates_roll_forward(now=later, limit=1) == 1
    assert stored(fresh) == (0, 0)


# --- only final decisions count (CONTRACT §6 v2) ------------------------------------------


def test_a_voided_decision_no_longer_counts(subject, reviewer):
    kept = decide(subject, Verdict.VIOLATION, "hate", reviewer=reviewer)
    voided = decide(subject, Verdict.VIOLATION, "weapons", reviewer=reviewer)
    decide(subject, Verdict.NO_VIOLATION, reviewer=reviewer)
    Decision.objects.filter(pk=voided.pk).update(
        voided_at=timezone.now(), voided_by=reviewer, void_reason="undone"
    )
    figures = subject_recount(subject=subject)
    assert (figures.violations, figures.reviewed) == (1, 2)
    assert figures.categories == ["hate"] and figures.critical_violation is False
    assert figures.basis == (kept.pk,)
    assert stored(subject) == (1, 2)


def test_an_overturned_decision_counts_as_its_replacement(subject, reviewer, senior):
    from moderation.models import FlaggedItem
    from moderation.services.review import decision_overturn
    from moderation.services.undo import decision_undo

    first = decide(subject, Verdict.VIOLATION, reviewer=reviewer)
    decide(subject, Verdict.NO_VIOLATION, reviewer=reviewer)
    assert stored(subject) == (1, 2)
    decision_overturn(
        item=FlaggedItem.objects.get(pk=first.item_id),
        user=senior,
        verdict=Verdict.NO_VIOLATION,
        categories=[],
        note="a quote",
    )
    assert stored(subject) == (0, 2)
    undone = decide(subject, Verdict.VIOLATION, reviewer=reviewer)
    assert stored(subject) == (1, 3)
    decision_undo(decision=undone, user=reviewer)
    assert stored(subject) == (0, 2)
