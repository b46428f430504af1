"""Users with a record: violations decided through the review service, as a reviewer would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from moderation.models import PolicyCategory, Subject, Verdict
from moderation.services.review import decision_record
from tests.factories import FlaggedItemFactory


@pytest.fixture
def decide(reviewer: Any) -> Callable[..., Subject]:
    """decide(subject, violations=2, clean=1, category="fraud"): the reviewer decides that
    many new items of the subject; the thresholds act as they would in production."""

    def record(
        subject: Subject, violations: int = 1, clean: int = 0, category: str = "fraud"
    ) -> Subject:
        verdicts = [Verdict.VIOLATION] * violations + [Verdict.NO_VIOLATION] * clean
        for verdict in verdicts:
            item = FlaggedItemFactory(subject=subject, organization=subject.organization)
            decision_record(
                item=item,
                reviewer=reviewer,
                verdict=verdict,
                categories=(
                    [PolicyCategory.objects.get(slug=category)]
                    if verdict == Verdict.VIOLATION
                    else []
                ),
                note="",
            )
        subject.refresh_from_db()
        return subject

    return record
