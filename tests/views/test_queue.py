"""/queue/: counts and age per queue, and "Review next"."""

from __future__ import annotations

import pytest

from moderation.models import ItemState, PolicyCategory, QualitySettings, ReviewQueue
from tests.factories import FlaggedItemFactory, SignalFactory

pytestmark = pytest.mark.django_db


def test_it_needs_a_signed_in_user(client):
    assert client.get("/queue/")["Location"].startswith("/accounts/login/")


def test_it_shows_counts_per_queue_and_review_next(client, reviewer):
    FlaggedItemFactory.create_batch(3, queue=ReviewQueue.STANDARD)
    FlaggedItemFactory(queue=ReviewQueue.CRITICAL)
    FlaggedItemFactory(queue=ReviewQueue.STANDARD, state=ItemState.DECIDED)
    client.force_login(reviewer)
    response = client.get("/queue/")
    page = response.content.decode()
    assert response.status_code == 200
    assert 'aria-label="3 pending"' in page and 'aria-label="1 pending"' in page
    assert "Review next" in page
    # Reviewers do not see the escalated queue.
    assert "Escalated" not in page


def test_seniors_see_the_escalated_queue(client, senior):
    FlaggedItemFactory(queue=ReviewQueue.ESCALATED, state=ItemState.ESCALATED)
    client.force_login(senior)
    assert "Escalated" in client.get("/queue/").content.decode()


def test_review_next_claims_and_opens_the_item(client, reviewer):
    item = FlaggedItemFactory()
    client.force_login(reviewer)
    response = client.post("/queue/next/")
    assert response.status_code == 302 and response["Location"] == f"/items/{item.pk}/"
    item.refresh_from_db()
    assert item.claimed_by == reviewer


def test_review_next_on_an_empty_queue_says_so(client, reviewer):
    client.force_login(reviewer)
    response = client.post("/queue/next/", follow=True)
    assert "Queue empty" in response.content.decode()


def test_a_user_without_a_role_is_refused(roleless_client):
    assert roleless_client.get("/queue/").status_code == 403
    assert roleless_client.post("/queue/next/").status_code == 403


def test_review_next_claims_in_few_queries(client, reviewer, django_assert_num_queries):
    # No golden item drawn (2 % by default: its look-up would be a query more, now and then).
    QualitySettings.objects.update_or_create(pk=1, defaults={"gold_percent": 0})
    FlaggedItemFactory()
    client.force_login(reviewer)
    # The session, the user with their role (one query: accounts/backends.py), the share of
    # claims served from gold (read from the database here: this test's transaction wrote
    # it, so config_cache keeps nothing), then the claim's own five: its transaction
    # (savepoint and release here), the item already held, the next waiting one found,
    # locked and claimed in one statement, the audit row.
    with django_assert_num_queries(8) as captured:
        assert client.post("/queue/next/").status_code == 302
    sqls = [q["sql"] for q in captured.captured_queries]
    signed_in = [s for s in sqls if any(t in s for t in ("django_session", "auth_user", "auth_"))]
    assert len(signed_in) == 2 and sum("auth_group" in sql for sql in signed_in) == 1
    gold_share = [s for s in sqls if "moderation_qualitysettings" in s]
    assert len(gold_share) == 1
    # The claim is one statement: no lock taken by a SELECT and then an UPDATE by key.
    locking = [sql for sql in sqls if "SKIP LOCKED" in sql]
    assert len(locking) == 1
    assert locking[0].startswith("UPDATE") and "RETURNING" in locking[0]
    assert sum(sql.startswith("UPDATE") for sql in sqls) == 1


def test_each_listed_item_is_a_link_to_its_page(client, reviewer):
    items = FlaggedItemFactory.create_batch(3)
    client.force_login(reviewer)
    page = client.get("/queue/").content.decode()
    for item in items:
        assert f'<a href="/items/{item.pk}/">Item {item.pk}</a>' in page


def test_the_list_masks_personal_data_before_cutting_the_excerpt(client, reviewer):
    # Within the excerpt, and straddling its 140th character: never shown, not even half.
    FlaggedItemFactory(prompt="Mail jane.doe@example.com now", priority=2)
    FlaggedItemFactory(prompt="z" * 130 + " bob.smith@example.org and more", priority=1)
    client.force_login(reviewer)
    page = client.get("/queue/").content.decode()
    for leak in ("jane", "bob.sm", "example.com", "example.org"):
        assert leak not in page, leak
    assert page.count("[email]") == 2


def test_the_list_shows_one_chip_per_category(client, reviewer):
    item = FlaggedItemFactory()
    violence = PolicyCategory.objects.get(slug="violence")
    SignalFactory(item=item, classifier="a", category=violence, score=0.91)
    SignalFactory(item=item, classifier="b", category=violence, score=0.42)
    client.force_login(reviewer)
    page = client.get("/queue/").content.decode()
    assert page.count(">Violence 0.91</span>") == 1 and "Violence 0.42" not in page


def test_the_list_hides_the_text_of_an_item_with_a_critical_signal(client, reviewer):
    item = FlaggedItemFactory(queue=ReviewQueue.STANDARD, prompt="a hidden standard prompt")
    SignalFactory(item=item, category=PolicyCategory.objects.get(slug="weapons"))
    client.force_login(reviewer)
    page = client.get("/queue/").content.decode()
    assert "a hidden standard prompt" not in page and "Hidden in this list" in page
