"""Undo and Overturn on the item page (CONTRACT §8 v2): the deciding reviewer takes a
decision back for a few minutes; a senior or admin replaces a final decision with a note."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from moderation.models import (
    AuditAction,
    AuditEvent,
    Decision,
    FlaggedItem,
    ItemState,
    PolicyCategory,
    VoidReason,
)
from moderation.services import claims
from tests.factories import FlaggedItemFactory, decide

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def hate() -> PolicyCategory:
    return PolicyCategory.objects.get(slug="hate")


def decide_first_of_two(client) -> tuple[FlaggedItem, FlaggedItem, object]:
    """Review next, decide the first item Violation (Hate); the answer shows the second."""
    first = FlaggedItemFactory(priority=9)
    second = FlaggedItemFactory(priority=1)
    client.post("/queue/next/")
    response = client.post(
        f"/items/{first.pk}/decide/",
        {"verdict": "violation", "categories": [hate().pk]},
        headers=HTMX,
    )
    assert response["HX-Push-Url"] == f"/items/{second.pk}/"
    return first, second, response


def test_after_a_decision_the_next_item_offers_to_undo_it(reviewer_client):
    first, _, response = decide_first_of_two(reviewer_client)
    page = response.content.decode()
    link = f'<a href="/items/{first.pk}/">item {first.pk}</a>'
    assert f"You decided {link}: Violation (Hate)." in page
    assert f'hx-post="/items/{first.pk}/undo/"' in page
    assert 'data-key="u">Undo</button>' in page and "<kbd>U</kbd> Undo" in page


def test_undo_gives_the_item_back_undecided_and_releases_the_next_one(reviewer_client, reviewer):
    first, second, _ = decide_first_of_two(reviewer_client)

    response = reviewer_client.post(f"/items/{first.pk}/undo/", headers=HTMX)

    assert response.status_code == 200
    assert response["HX-Push-Url"] == f"/items/{first.pk}/"
    page = response.content.decode()
    assert 'id="decision"' in page and "You decided" not in page
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, first.claimed_by) == (ItemState.CLAIMED, reviewer)
    assert (second.state, second.claimed_by) == (ItemState.PENDING, None)
    decision = Decision.objects.get(item=first)
    assert decision.void_reason == VoidReason.UNDONE and decision.voided_by == reviewer
    assert AuditEvent.objects.filter(action=AuditAction.ITEM_UNDO, item=first).exists()
    # No skip recorded for the item given back on the reviewer's behalf.
    assert not AuditEvent.objects.filter(action=AuditAction.ITEM_SKIP).exists()

    # Decided again, the next item comes from the reviewer's queues as before.
    response = reviewer_client.post(
        f"/items/{first.pk}/decide/", {"verdict": "no_violation"}, headers=HTMX
    )
    assert response["HX-Push-Url"] == f"/items/{second.pk}/"
    assert Decision.objects.final().get(item=first).verdict == "no_violation"


def test_undo_without_javascript_redirects_to_the_item(reviewer_client):
    first, _, _ = decide_first_of_two(reviewer_client)
    response = reviewer_client.post(f"/items/{first.pk}/undo/")
    assert response.status_code == 302 and response["Location"] == f"/items/{first.pk}/"


def test_queue_empty_offers_to_undo_the_last_decision(reviewer_client):
    only = FlaggedItemFactory()
    reviewer_client.post("/queue/next/")
    response = reviewer_client.post(
        f"/items/{only.pk}/decide/", {"verdict": "no_violation"}, headers=HTMX
    )
    page = response.content.decode()
    assert "Queue empty" in page and f"item {only.pk}</a>: No violation." in page
    # And the queue page, where a plain POST lands after the last decision.
    assert f'action="/items/{only.pk}/undo/"' in reviewer_client.get("/queue/").content.decode()


def test_the_decided_items_page_offers_undo_to_its_decider_only(reviewer_client, reviewer, senior):
    first, _, _ = decide_first_of_two(reviewer_client)
    page = reviewer_client.get(f"/items/{first.pk}/").content.decode()
    assert page.count(">Undo</button>") == 1
    assert f'action="/items/{first.pk}/undo/"' in page
    reviewer_client.force_login(senior)
    assert ">Undo</button>" not in reviewer_client.get(f"/items/{first.pk}/").content.decode()


def test_undo_is_refused_once_the_window_has_passed(reviewer_client, settings):
    first, second, _ = decide_first_of_two(reviewer_client)
    Decision.objects.filter(item=first).update(
        decided_at=timezone.now() - timedelta(seconds=settings.MODQUEUE_UNDO_SECONDS + 1)
    )
    assert "You decided" not in reviewer_client.get(f"/items/{second.pk}/").content.decode()

    response = reviewer_client.post(f"/items/{first.pk}/undo/", headers=HTMX)

    assert response.status_code == 409
    assert "can be undone for 5 minutes only" in response.content.decode()
    assert Decision.objects.final().filter(item=first).exists()
    second.refresh_from_db()
    assert second.state == ItemState.CLAIMED, "the next item stays with the reviewer"


def test_undo_by_someone_who_did_not_decide_is_refused(reviewer_client, senior):
    first, _, _ = decide_first_of_two(reviewer_client)
    reviewer_client.force_login(senior)
    response = reviewer_client.post(f"/items/{first.pk}/undo/", headers=HTMX)
    assert response.status_code == 409
    assert "no decision on this item to undo" in response.content.decode()
    assert Decision.objects.final().filter(item=first).exists()


def test_undo_rejects_get(reviewer_client):
    first, _, _ = decide_first_of_two(reviewer_client)
    assert reviewer_client.get(f"/items/{first.pk}/undo/").status_code == 405


# --- overturn ------------------------------------------------------------------------------


@pytest.fixture
def decided(reviewer) -> FlaggedItem:
    """An item rita decided Violation (Hate) without a note."""
    item = FlaggedItemFactory()
    claims.claim_next(user=reviewer)
    decide(item, "violation", "hate", reviewer=reviewer)
    return item


def test_a_senior_sees_the_decisions_and_the_overturn_form(client, senior, decided):
    client.force_login(senior)
    page = client.get(f"/items/{decided.pk}/").content.decode()
    assert 'id="decisions-h">Decisions</h2>' in page
    assert "by rita" in page and 'class="tag tag-final">final' in page
    for text in (
        f'action="/items/{decided.pk}/overturn/"',
        '<input type="radio" name="verdict" value="violation" required> Violation</label>',
        '<input type="radio" name="verdict" value="no_violation"> No violation</label>',
        '<label for="overturn-note" class="note-label">Note</label>',
        ">Overturn</button>",
        "What Undo and Overturn change",
    ):
        assert text in page, text
    assert page.count('name="categories"') == PolicyCategory.objects.count()


def test_a_reviewer_sees_the_decisions_but_no_overturn_form(client, reviewer, decided):
    client.force_login(reviewer)
    page = client.get(f"/items/{decided.pk}/").content.decode()
    assert "by rita" in page and "Overturn</button>" not in page
    response = client.post(
        f"/items/{decided.pk}/overturn/", {"verdict": "no_violation", "note": "no"}
    )
    assert response.status_code == 403
    assert Decision.objects.final().get(item=decided).reviewer == reviewer


def test_a_senior_overturns_and_the_earlier_decision_stays_on_record(client, senior, decided):
    client.force_login(senior)
    response = client.post(
        f"/items/{decided.pk}/overturn/",
        {"verdict": "no_violation", "note": "Quoting a slur to report it is not hate."},
        headers=HTMX,
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Overturned: the new decision is the final one." in page
    assert 'class="tag tag-void">overturned' in page and "by sam" in page
    earlier, final = Decision.objects.filter(item=decided).order_by("pk")
    assert earlier.void_reason == VoidReason.OVERTURNED and earlier.replaced_by == final
    assert (final.verdict, final.reviewer, final.voided_at) == ("no_violation", senior, None)
    assert AuditEvent.objects.filter(action=AuditAction.ITEM_OVERTURN, item=decided).exists()


def test_overturn_without_javascript_redirects_to_the_item(client, senior, decided):
    client.force_login(senior)
    response = client.post(
        f"/items/{decided.pk}/overturn/", {"verdict": "no_violation", "note": "Not hate."}
    )
    assert response.status_code == 302 and response["Location"] == f"/items/{decided.pk}/"


def test_overturn_bad_input_changes_nothing_and_says_why(client, senior, decided):
    client.force_login(senior)
    for data, message in [
        ({"verdict": "no_violation", "note": ""}, "why you overturn"),
        ({"note": "why"}, "Choose the new verdict"),
        ({"verdict": "escalate", "note": "why"}, "Choose the new verdict"),
        ({"verdict": "violation", "note": "why"}, "at least one policy category"),
        ({"verdict": "violation", "categories": ["²"], "note": "why"}, "unknown policy category"),
    ]:
        response = client.post(f"/items/{decided.pk}/overturn/", data, headers=HTMX)
        assert response.status_code == 422, data
        assert message in response.content.decode(), data
    assert Decision.objects.filter(item=decided).count() == 1
    assert Decision.objects.final().get(item=decided).verdict == "violation"


def test_an_undecided_item_cannot_be_overturned(client, senior):
    item = FlaggedItemFactory()
    client.force_login(senior)
    page = client.get(f"/items/{item.pk}/").content.decode()
    assert "Overturn</button>" not in page
    response = client.post(
        f"/items/{item.pk}/overturn/", {"verdict": "no_violation", "note": "n"}, headers=HTMX
    )
    assert response.status_code == 409
    assert not Decision.objects.exists()


def test_after_an_undo_the_users_other_items_no_longer_show_the_verdict(reviewer_client):
    first, second, _ = decide_first_of_two(reviewer_client)
    later = FlaggedItemFactory(subject=first.subject, organization=first.organization)
    reviewer_client.post(f"/items/{first.pk}/undo/", headers=HTMX)
    page = reviewer_client.get(f"/items/{later.pk}/").content.decode()
    panel = page[page.index('id="subject-h"') :]
    assert f"#{first.pk}</a>" in panel
    assert "verdict-violation" not in panel and "Claimed" in panel
