"""Marking a decided item as golden from its page (issue 10): admins find the form with the
expected answer; marking copies the item and never changes it; refused, with nothing stored,
for undecided, erased and served golden items, and for anyone but an admin."""

from __future__ import annotations

import pytest
from django.utils import timezone

from moderation.models import AuditAction, AuditEvent, FlaggedItem, GoldItem, Verdict
from tests.factories import (
    FlaggedItemFactory,
    GoldItemFactory,
    GoldSetFactory,
    SignalFactory,
    decide,
    page_of,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def decided(acme, reviewer) -> FlaggedItem:
    item = FlaggedItemFactory(subject__organization=acme, prompt="I will hurt you")
    SignalFactory(item=item)
    decide(item, Verdict.VIOLATION, "violence", reviewer=reviewer)
    return item


def url(item: FlaggedItem) -> str:
    return f"/items/{item.pk}/gold/"


def test_an_admin_sees_the_form_with_the_expected_answer(admin_client, decided):
    GoldSetFactory(name="March calibration")
    page = page_of(admin_client.get(f"/items/{decided.pk}/"))
    assert "Mark as golden item" in page
    assert f'action="/items/{decided.pk}/gold/"' in page
    form = page[page.index('id="mark-gold-h"') :]
    assert "Expected answer:" in form and "Violation" in form and "Violence" in form
    assert '<option value="' in form and "March calibration" in form
    assert "Or a new set&#x27;s name" in form or "Or a new set's name" in form
    assert ">Mark as golden</button>" in form


def test_without_any_set_the_form_asks_for_a_new_name(admin_client, decided):
    page = page_of(admin_client.get(f"/items/{decided.pk}/"))
    assert 'name="new_set"' in page and 'name="gold_set"' not in page


@pytest.mark.parametrize("who", ["reviewer_client", "senior_client"])
def test_others_see_no_form(request, who, decided):
    client = request.getfixturevalue(who)
    assert "Mark as golden" not in page_of(client.get(f"/items/{decided.pk}/"))


def test_no_form_on_an_undecided_item(admin_client, acme):
    item = FlaggedItemFactory(subject__organization=acme)
    assert "Mark as golden" not in page_of(admin_client.get(f"/items/{item.pk}/"))


def test_no_form_on_a_served_golden_item(admin_client, acme, reviewer):
    served = FlaggedItemFactory(subject__organization=acme, gold=GoldItemFactory(organization=acme))
    decide(served, Verdict.VIOLATION, reviewer=reviewer)
    assert "Mark as golden" not in page_of(admin_client.get(f"/items/{served.pk}/"))


def test_marking_into_an_existing_set_redirects_to_the_item(admin_client, admin_user, decided):
    gold_set = GoldSetFactory(name="March calibration")
    response = admin_client.post(
        url(decided), {"gold_set": str(gold_set.pk), "new_set": "", "note": "A threat."}
    )
    assert response.status_code == 302 and response["Location"] == f"/items/{decided.pk}/"
    gold = GoldItem.objects.get()
    assert gold.gold_set == gold_set and gold.note == "A threat."
    assert gold.source_item_id == decided.pk and gold.expected_verdict == Verdict.VIOLATION
    assert [c.slug for c in gold.expected_categories.all()] == ["violence"]
    assert AuditEvent.objects.get(action=AuditAction.GOLD_MARK).actor == admin_user
    page = page_of(admin_client.get(response["Location"]))
    assert f"Marked as golden item #{gold.pk} in the set March calibration." in page


def test_a_typed_name_makes_a_new_set(admin_client, decided):
    GoldSetFactory(name="Old")
    admin_client.post(url(decided), {"gold_set": "", "new_set": "From the queue", "note": ""})
    assert GoldItem.objects.get().gold_set.name == "From the queue"


def refused(response, status: int, words: str) -> None:
    assert response.status_code == status
    page = response.content.decode()
    assert 'role="alert"' in page and words in page
    assert not GoldItem.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.GOLD_MARK).exists()


def test_no_set_chosen_is_422(admin_client, decided):
    refused(admin_client.post(url(decided), {"new_set": ""}), 422, "Choose a gold set")


def test_an_unknown_set_is_422(admin_client, decided):
    refused(admin_client.post(url(decided), {"gold_set": "99999"}), 422, "Choose a gold set")


def test_an_undecided_item_is_409(admin_client, acme):
    item = FlaggedItemFactory(subject__organization=acme)
    refused(admin_client.post(url(item), {"new_set": "s"}), 409, "Only a decided item")


def test_an_erased_item_is_409(admin_client, decided):
    FlaggedItem.objects.filter(pk=decided.pk).update(prompt="", content_erased_at=timezone.now())
    refused(admin_client.post(url(decided), {"new_set": "s"}), 409, "erased")
    assert "Mark as golden" not in page_of(admin_client.get(f"/items/{decided.pk}/"))


def test_a_served_golden_item_is_409(admin_client, acme, reviewer):
    served = FlaggedItemFactory(subject__organization=acme, gold=GoldItemFactory(organization=acme))
    decide(served, Verdict.VIOLATION, reviewer=reviewer)
    response = admin_client.post(url(served), {"new_set": "s"})
    assert response.status_code == 409
    assert GoldItem.objects.count() == 1  # only the one served


@pytest.mark.parametrize("who", ["reviewer_client", "senior_client", "roleless_client"])
def test_anyone_but_an_admin_gets_403(request, who, decided):
    client = request.getfixturevalue(who)
    assert client.post(url(decided), {"new_set": "s"}).status_code == 403
    assert not GoldItem.objects.exists()


def test_get_is_405(admin_client, decided):
    assert admin_client.get(url(decided)).status_code == 405
