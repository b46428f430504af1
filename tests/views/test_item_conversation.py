"""The item page's conversation as the server sends it (CONTRACT §8 v2): no turn of a critical
item before "Show content", personal data masked in every turn and name, erased turns gone,
the prompt and response sent beside the turns shown when they are not among them."""

from __future__ import annotations

import pytest
from django.utils import timezone

from moderation.models import FlaggedItem
from tests.factories import FlaggedItemFactory, SignalFactory, category

pytestmark = pytest.mark.django_db

TURNS = [
    {"role": "system", "content": "You are a chemistry tutor."},
    {"role": "user", "content": "Mail the answer to kim@example.org"},
    {"role": "tool", "name": "mailer", "content": "sent to 10.1.2.3"},
    {"role": "assistant", "content": "Done."},
]


def conversation_item(severity_slug: str = "harassment", **fields: object) -> FlaggedItem:
    fields.setdefault("prompt", TURNS[1]["content"])
    item = FlaggedItemFactory(messages=TURNS, flagged_turn=1, **fields)
    SignalFactory(item=item, category=category(severity_slug), score=0.9)
    return item


def test_every_turn_is_sent_labelled_with_the_flagged_one_marked(reviewer_client):
    page = reviewer_client.get(f"/items/{conversation_item().pk}/").content.decode()
    assert page.count('class="turn turn-') == 4
    for label in ("System", "User", "Tool", "Assistant"):
        assert f'<span class="turn-role">{label}</span>' in page
    assert page.count("turn-flagged") == 1 and "Flagged turn" in page
    assert '<span class="turn-name">mailer</span>' in page


def test_personal_data_is_masked_in_every_turn_and_offered_for_reveal(reviewer_client):
    item = conversation_item(prompt="no personal data in the prompt itself")
    page = reviewer_client.get(f"/items/{item.pk}/").content.decode()
    assert "kim@example.org" not in page and "10.1.2.3" not in page
    assert "[email]" in page and "[ip]" in page
    assert "Personal data is masked." in page


def test_a_critical_conversation_sends_no_turn_before_show_content(reviewer_client):
    item = conversation_item("weapons")
    page = reviewer_client.get(f"/items/{item.pk}/").content.decode()
    assert "Show content" in page
    assert "chemistry tutor" not in page and "turn-role" not in page
    reviewer_client.post(f"/items/{item.pk}/reveal/")
    page = reviewer_client.get(f"/items/{item.pk}/").content.decode()
    assert "chemistry tutor" in page


def test_an_erased_conversation_shows_the_erasure_only(reviewer_client):
    item = conversation_item()
    FlaggedItem.objects.filter(pk=item.pk).update(
        prompt="", messages=None, content_erased_at=timezone.now()
    )
    page = reviewer_client.get(f"/items/{item.pk}/").content.decode()
    assert "was erased" in page and "turn-role" not in page


def test_a_prompt_and_response_not_among_the_turns_are_shown_beside_them(reviewer_client):
    item = conversation_item(prompt="A prompt of its own", response="A response of its own")
    page = reviewer_client.get(f"/items/{item.pk}/").content.decode()
    assert "A prompt of its own" in page and "A response of its own" in page
    assert page.count("sent beside the conversation") == 2
    # The prompt the API took from the last user turn is not repeated.
    same = conversation_item()
    page = reviewer_client.get(f"/items/{same.pk}/").content.decode()
    assert "sent beside the conversation" not in page
