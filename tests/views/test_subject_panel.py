"""The item page's subject panel (selectors.subject_recent): the user's last items and each
one's standing verdict, read in one query of three columns, shown as the subject's full
history (selectors.subject_history, the checker) gives them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from moderation import selectors
from moderation.models import FlaggedItem
from moderation.services.undo import decision_undo
from tests.factories import (
    FlaggedItemFactory,
    SecondReviewFactory,
    SubjectFactory,
    UserFactory,
    decide,
    page_of,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def subject_items(reviewer):
    """A subject's items, oldest first, in every state the panel tells apart."""
    subject = SubjectFactory()
    now = timezone.now()
    made = []

    def item(minutes_ago: int) -> FlaggedItem:
        found = FlaggedItemFactory(subject=subject, organization=subject.organization)
        FlaggedItem.objects.filter(pk=found.pk).update(
            flagged_at=now - timedelta(minutes=minutes_ago)
        )
        made.append(found)
        return found

    decide(item(60), "violation", reviewer=reviewer)
    decide(item(50), "no_violation", reviewer=reviewer)
    # Undone: the item is waiting again, with no standing decision.
    undone = item(40)
    decision_undo(decision=decide(undone, "violation", reviewer=reviewer), user=reviewer)
    # Overturned into a later standing decision: the latest standing one is shown.
    other = UserFactory()
    decide(item(30), "escalate", reviewer=other)
    # A first decision waiting for its blind second answer is shown to nobody.
    review = SecondReviewFactory(item=item(20), first_verdict="violation")
    assert review.state == "pending"
    item(10)  # never decided
    return subject, made


def test_the_panel_reads_what_the_full_history_shows(subject_items, django_assert_num_queries):
    subject, items = subject_items
    shown = items[-1]
    with django_assert_num_queries(1):
        recent = selectors.subject_recent(subject, besides=shown.pk)
    full = [i for i in selectors.subject_history(subject, limit=50) if i.pk != shown.pk]
    assert [i.pk for i in recent] == [i.pk for i in full]
    expected = [i.latest_decision.verdict if i.latest_decision else None for i in full]
    assert [i.latest_verdict for i in recent] == expected
    # Newest first: the pending review's item shows no verdict; escalate, undone (none),
    # no violation, violation.
    assert expected == [None, "escalate", None, "no_violation", "violation"]


def test_the_panel_keeps_the_ten_newest(reviewer):
    subject = SubjectFactory()
    items = [
        FlaggedItemFactory(subject=subject, organization=subject.organization) for _ in range(13)
    ]
    recent = selectors.subject_recent(subject, besides=items[0].pk)
    assert len(recent) == 10
    assert items[0].pk not in {i.pk for i in recent}


def test_the_item_page_shows_each_past_items_verdict(subject_items, reviewer_client):
    _, items = subject_items
    page = page_of(reviewer_client.get(f"/items/{items[-1].pk}/"))
    panel = page[page.index('id="subject-h"') :]
    rows = re.findall(
        r'<li><a href="/items/(\d+)/">#\d+</a>\s*<span class="([^"]+)">([^<]+)</span>', panel
    )
    assert [int(pk) for pk, _, _ in rows] == [i.pk for i in reversed(items[:-1])]
    assert [(css, label) for _, css, label in rows] == [
        ("muted", "Pending"),  # its first decision waits, blind, for the second answer
        ("verdict verdict-escalate", "Escalate"),
        ("muted", "Claimed"),  # undone: back in its reviewer's hands, undecided
        ("verdict verdict-no_violation", "No violation"),
        ("verdict verdict-violation", "Violation"),
    ]
