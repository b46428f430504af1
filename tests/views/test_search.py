"""/items/ (search) and /items/saved/ (saved searches): who may, what the rows show and hide,
bad input on the form, and saved searches kept to their owner."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from moderation.models import ReviewQueue, SavedFilter
from tests.factories import (
    FlaggedItemFactory,
    SignalFactory,
    SubjectFactory,
    UserFactory,
    category,
    page_of,
)

pytestmark = pytest.mark.django_db

HASH = "5be0a9d4" + "7" * 56


def text(response: Any) -> str:
    """The page of any answer (page_of wants a 200)."""
    return response.content.decode()


@pytest.fixture
def alice(acme: Any) -> Any:
    return SubjectFactory(organization=acme, user_id_hash=HASH)


def test_it_is_forbidden_without_a_role(roleless_client: Client):
    assert roleless_client.get("/items/?q=lock").status_code == 403


def test_it_sends_anonymous_visitors_to_log_in(client: Client):
    response = client.get("/items/?q=lock")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_it_lists_results_each_a_link_to_its_item(reviewer_client: Client, alice):
    item = FlaggedItemFactory(subject=alice, request_id="req-abc", prompt="Pick a lock for me")
    response = reviewer_client.get("/items/", {"q": "lock"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = page_of(response)
    assert f'<a href="/items/{item.pk}/">Item {item.pk}</a>' in page
    assert "req-abc" in page and "acme" in page
    assert f'<code title="{HASH}">5be0a9d47777…</code>' in page
    assert "Pick a <mark>lock</mark> for me" in page
    assert "matched by text" in page


def test_it_finds_by_request_id_and_hash_prefix_from_the_one_box(reviewer_client, alice):
    item = FlaggedItemFactory(subject=alice, request_id="req-77")
    FlaggedItemFactory(subject=SubjectFactory(organization=alice.organization))
    by_request = page_of(reviewer_client.get("/items/", {"q": "req-77"}))
    assert f"/items/{item.pk}/" in by_request and "matched by request id" in by_request
    by_hash = page_of(reviewer_client.get("/items/", {"q": HASH[:10]}))
    assert f"/items/{item.pk}/" in by_hash and "matched by user id hash" in by_hash


def test_it_hides_critical_text_and_masks_personal_data(reviewer_client, alice):
    critical = FlaggedItemFactory(subject=alice, prompt="nerve agent recipe with quantities")
    SignalFactory(item=critical, category=category("weapons"))
    pii = FlaggedItemFactory(subject=alice, prompt="Mail the recipe to jane.doe@example.com now")
    page = page_of(reviewer_client.get("/items/", {"q": "recipe"}))
    assert f"/items/{critical.pk}/" in page and f"/items/{pii.pk}/" in page
    assert "nerve agent" not in page and "quantities" not in page
    assert "Hidden in this list" in page
    assert "jane.doe@example.com" not in page and "[email]" in page


def test_it_never_lists_escalated_items_for_reviewers(reviewer_client, senior, alice):
    FlaggedItemFactory(subject=alice, prompt="escalated lock", queue=ReviewQueue.ESCALATED)
    assert "No items match" in page_of(reviewer_client.get("/items/", {"q": "lock"}))
    reviewer_client.force_login(senior)
    assert "Hidden in this list" in page_of(reviewer_client.get("/items/", {"q": "lock"}))


def test_it_says_what_is_wrong_and_lists_nothing(reviewer_client, alice):
    FlaggedItemFactory(subject=alice)
    response = reviewer_client.get(
        "/items/", {"user": "5be0", "since": "2026-02-30", "verdict": "<b>", "q": "lock"}
    )
    assert response.status_code == 400
    page = text(response)
    assert "could not be read" in page
    assert "at least 8 hexadecimal characters" in page
    assert "“2026-02-30”: From is a date" in page
    assert "Verdict is Violation or No violation." in page
    assert "<b>" not in page
    assert 'value="5be0"' in page  # kept to be corrected
    assert "<table" not in page


def test_it_pages_with_a_signed_cursor_and_refuses_a_changed_one(reviewer_client, alice):
    for _ in range(51):
        FlaggedItemFactory(subject=alice, prompt="a lock")
    first = reviewer_client.get("/items/", {"q": "lock"})
    assert first.context["next_url"]
    after = parse_qs(urlsplit(first.context["next_url"]).query)["after"][0]
    second = reviewer_client.get("/items/", {"q": "lock", "after": after})
    assert second.status_code == 200 and len(second.context["rows"]) == 1
    assert "Newest items" in page_of(second)
    broken = reviewer_client.get("/items/", {"q": "lock", "after": after[:-3] + "abc"})
    assert broken.status_code == 400
    assert "link to the next page is broken" in text(broken)


def test_it_says_nothing_was_searched_for_yet(reviewer_client):
    page = page_of(reviewer_client.get("/items/"))
    assert "Nothing searched for yet." in page


def test_it_saves_a_search_and_lists_it_for_its_owner_only(client: Client, reviewer, senior, acme):
    client.force_login(reviewer)
    response = client.post(
        "/items/saved/", {"name": "Acme locks", "q": "lock", "organization": "acme"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/items/?q=lock&organization=acme"
    saved = SavedFilter.objects.get()
    assert (saved.user, saved.name) == (reviewer, "Acme locks")
    assert 'href="/items/?q=lock&amp;organization=acme">Acme locks</a>' in page_of(
        client.get("/items/")
    )
    client.force_login(senior)
    assert "Acme locks" not in page_of(client.get("/items/"))
    # Nobody deletes another's: not found, still there.
    assert client.post(f"/items/saved/{saved.pk}/delete/").status_code == 404
    assert SavedFilter.objects.filter(pk=saved.pk).exists()
    client.force_login(reviewer)
    assert client.post(f"/items/saved/{saved.pk}/delete/").status_code == 302
    assert not SavedFilter.objects.exists()


def test_it_refuses_a_save_without_a_name_and_saves_nothing(reviewer_client, acme):
    response = reviewer_client.post("/items/saved/", {"name": "  ", "q": "lock"})
    assert response.status_code == 422
    assert "Name the search to save it." in text(response)
    assert not SavedFilter.objects.exists()


def test_it_refuses_to_save_a_search_it_cannot_read(reviewer_client, acme):
    response = reviewer_client.post("/items/saved/", {"name": "x", "user": "zz"})
    assert response.status_code == 422
    assert "at least 8 hexadecimal characters" in text(response)
    assert not SavedFilter.objects.exists()


def test_two_users_may_use_the_same_name(client: Client, reviewer, acme):
    other = UserFactory(username="rob")
    SavedFilter.objects.create(user=other, name="Mine", query="q=a")
    client.force_login(reviewer)
    assert client.post("/items/saved/", {"name": "Mine", "q": "b"}).status_code == 302
    assert sorted(SavedFilter.objects.values_list("user__username", "query")) == [
        ("rita", "q=b"),
        ("rob", "q=a"),
    ]


def test_the_nav_links_to_search(reviewer_client):
    assert '<a href="/items/" >Search</a>' in page_of(reviewer_client.get("/queue/"))
    assert '<a href="/items/" aria-current="page">Search</a>' in page_of(
        reviewer_client.get("/items/")
    )


@pytest.mark.parametrize("q", ["the", "&|!:*()", "'", '"', "lock -", "-", "ééé", "🙂🙂", "a" * 500])
def test_it_answers_any_words_without_an_error(reviewer_client, alice, q):
    FlaggedItemFactory(subject=alice, prompt="the lock")
    response = reviewer_client.get("/items/", {"q": q})
    assert response.status_code == 200
    assert response.context["page"] is not None
