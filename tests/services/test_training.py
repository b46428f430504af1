"""Training export and classifier report (CONTRACT §6 v2): built on final decisions only, so
an undone or overturned verdict never teaches a classifier or scores one."""

from __future__ import annotations

import pytest

from moderation.models import FlaggedItem, Verdict
from moderation.services.review import decision_overturn
from moderation.services.training import classifier_report, training_rows
from moderation.services.undo import decision_undo
from tests.factories import (
    FlaggedItemFactory,
    SignalFactory,
    SubjectFactory,
    categories,
    decide,
)

pytestmark = pytest.mark.django_db

V, N = Verdict.VIOLATION, Verdict.NO_VIOLATION


@pytest.fixture
def flagged(acme):
    """An item flagged 0.95 for hate by "hate-v1"."""
    item = FlaggedItemFactory(subject=SubjectFactory(organization=acme), prompt="some text")
    SignalFactory(item=item, classifier="hate-v1", category=categories("hate")[0], score=0.95)
    return item


def band(classifier: str = "hate-v1"):
    (row,) = [r for r in classifier_report() if r.classifier == classifier and r.band == 9]
    return row.flags, row.decided, row.confirmed


def test_the_export_carries_the_overturning_verdict(flagged, reviewer, senior):
    decide(flagged, V, "hate", reviewer=reviewer)
    decision_overturn(item=flagged, user=senior, verdict=N, categories=[], note="reclaimed slur")
    (row,) = list(training_rows())
    assert (row["verdict"], row["violation"], row["categories"]) == ("no_violation", False, [])


def test_an_undone_decision_leaves_the_export_and_the_report(flagged, reviewer):
    decision = decide(flagged, V, "hate", reviewer=reviewer)
    assert band() == (1, 1, 1)
    decision_undo(decision=decision, user=reviewer)
    assert list(training_rows()) == []
    assert band() == (1, 0, 0)


def test_the_report_confirms_only_by_the_final_decision(flagged, reviewer, senior):
    decide(flagged, V, "hate", reviewer=reviewer)
    decision_overturn(item=flagged, user=senior, verdict=N, categories=[], note="no")
    assert band() == (1, 1, 0)
    decision_overturn(
        item=FlaggedItem.objects.get(pk=flagged.pk),
        user=senior,
        verdict=V,
        categories=categories("hate"),
        note="on second thought",
    )
    assert band() == (1, 1, 1)
