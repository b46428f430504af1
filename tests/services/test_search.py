"""Search on /items/ (services/search.py): each filter, the one search box, keyset pages,
what never shows, bad input, and saved filters."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.core import signing
from django.db import connection
from django.utils import timezone

from moderation.models import (
    GOLD_SUBJECT_HASH,
    ItemState,
    ReviewQueue,
    SavedFilter,
    Verdict,
)
from moderation.models.items import SEARCH_DOCUMENT_SQL
from moderation.services import search
from moderation.services.search import SearchFilters, SearchInvalid
from tests.factories import (
    FlaggedItemFactory,
    GoldItemFactory,
    OrganizationFactory,
    SecondReviewFactory,
    SignalFactory,
    SubjectFactory,
    category,
    decide,
)

pytestmark = pytest.mark.django_db

HASH_A = "3fa9c2e1" + "0" * 56
HASH_B = "3fa9c2e2" + "1" * 56


def found(who: Any, /, **filters: Any) -> list[int]:
    page = search.search_items(filters=SearchFilters(**filters), user=who)
    return [i.pk for i in page.items]


def parse(who: Any, /, **data: str) -> SearchFilters:
    return search.filters_parse(data, user=who)


def errors_of(who: Any, /, **data: str) -> dict[str, str]:
    with pytest.raises(SearchInvalid) as invalid:
        parse(who, **data)
    return invalid.value.errors


@pytest.fixture
def alice(acme: Any) -> Any:
    return SubjectFactory(organization=acme, user_id_hash=HASH_A)


@pytest.fixture
def bob(acme: Any) -> Any:
    return SubjectFactory(organization=acme, user_id_hash=HASH_B)


# --- The one search box ------------------------------------------------------------------------


def test_it_finds_a_request_id_exactly(reviewer, alice):
    wanted = FlaggedItemFactory(subject=alice, request_id="req-7f3e")
    FlaggedItemFactory(subject=alice, request_id="req-7f3e-retry")
    page = search.search_items(filters=SearchFilters(q="req-7f3e"), user=reviewer)
    assert [i.pk for i in page.items] == [wanted.pk]
    assert page.matched_by == "request id"
    assert found(reviewer, q="req-7f") == []  # a part of a request id is no request id


def test_it_finds_a_user_by_the_start_of_their_hash(reviewer, alice, bob):
    a = FlaggedItemFactory(subject=alice)
    b = FlaggedItemFactory(subject=bob)
    page = search.search_items(filters=SearchFilters(q="3FA9C2E1"), user=reviewer)
    assert page.matched_by == "user id hash"
    assert [i.pk for i in page.items] == [a.pk]
    assert found(reviewer, q="3fa9c2e") == []  # 7 characters: a word, not a hash
    assert found(reviewer, q="3fa9c2e2") == [b.pk]


def test_it_finds_words_with_their_other_forms(reviewer, alice):
    lock = FlaggedItemFactory(subject=alice, prompt="How do I pick the locks on my door?")
    reply = FlaggedItemFactory(subject=alice, prompt="hi", response="Picking a lock is easy.")
    turns = FlaggedItemFactory(
        subject=alice,
        prompt="and then?",
        messages=[
            {"role": "user", "content": "Tell me about locksmiths"},
            {"role": "assistant", "content": "They open a lock for a living."},
            {"role": "user", "content": "and then?"},
        ],
    )
    FlaggedItemFactory(subject=alice, prompt="Write a poem about the sea")
    page = search.search_items(filters=SearchFilters(q="lock"), user=reviewer)
    assert page.matched_by == "text"
    assert sorted(i.pk for i in page.items) == sorted([lock.pk, reply.pk, turns.pk])
    assert found(reviewer, q='"open a lock"') == [turns.pk]  # a quoted phrase
    assert found(reviewer, q="lock -door") == [turns.pk, reply.pk]  # a word left out


# --- Each filter -------------------------------------------------------------------------------


def test_it_filters_by_request_id_and_user_hash_prefix(reviewer, alice, bob):
    a = FlaggedItemFactory(subject=alice, request_id="r-1")
    b = FlaggedItemFactory(subject=bob, request_id="r-2")
    assert found(reviewer, request="r-1") == [a.pk]
    assert found(reviewer, request="r-") == []
    assert found(reviewer, user="3fa9c2e2") == [b.pk]
    assert sorted(found(reviewer, user="3fa9c2e1000")) == [a.pk]


def test_it_filters_by_organization(reviewer, alice, globex):
    a = FlaggedItemFactory(subject=alice)
    g = FlaggedItemFactory(subject=SubjectFactory(organization=globex))
    assert found(reviewer, organization="acme") == [a.pk]
    assert found(reviewer, organization="globex") == [g.pk]


def test_it_filters_by_category_flagged_or_decided(reviewer, senior, alice):
    flagged = FlaggedItemFactory(subject=alice)
    SignalFactory(item=flagged, category=category("hate"))
    decided = FlaggedItemFactory(subject=alice)
    SignalFactory(item=decided, category=category("violence"))
    decide(decided, Verdict.VIOLATION, "hate", reviewer=senior)
    other = FlaggedItemFactory(subject=alice)
    SignalFactory(item=other, category=category("violence"))
    assert sorted(found(reviewer, category="hate")) == sorted([flagged.pk, decided.pk])


def test_it_filters_by_verdict_and_state(reviewer, senior, alice):
    bad = FlaggedItemFactory(subject=alice)
    decide(bad, Verdict.VIOLATION, reviewer=senior)
    fine = FlaggedItemFactory(subject=alice)
    decide(fine, Verdict.NO_VIOLATION, reviewer=senior)
    waiting = FlaggedItemFactory(subject=alice)
    assert found(reviewer, verdict="violation") == [bad.pk]
    assert found(reviewer, verdict="no_violation") == [fine.pk]
    assert found(reviewer, state="pending") == [waiting.pk]
    assert sorted(found(reviewer, state="decided")) == sorted([bad.pk, fine.pk])
    page = search.search_items(filters=SearchFilters(state="decided"), user=reviewer)
    assert {i.pk: i.verdict for i in page.items} == {
        bad.pk: Verdict.VIOLATION,
        fine.pk: Verdict.NO_VIOLATION,
    }


def test_it_filters_by_queue(senior, alice):
    critical = FlaggedItemFactory(subject=alice, queue=ReviewQueue.CRITICAL)
    FlaggedItemFactory(subject=alice)
    assert found(senior, queue="critical") == [critical.pk]


def test_it_filters_by_the_days_received_both_included(reviewer, alice):
    def on(day: int) -> Any:
        return FlaggedItemFactory(
            subject=alice, received_at=timezone.make_aware(datetime(2026, 3, day, 12))
        )

    first, second, third = on(1), on(2), on(3)
    assert found(reviewer, since=date(2026, 3, 2)) == [third.pk, second.pk]
    assert found(reviewer, until=date(2026, 3, 2)) == [second.pk, first.pk]
    assert found(reviewer, since=date(2026, 3, 2), until=date(2026, 3, 2)) == [second.pk]


def test_it_combines_filters_all_of_which_must_hold(reviewer, senior, alice, bob, globex):
    hit = FlaggedItemFactory(subject=alice, prompt="the lock again")
    decide(hit, Verdict.VIOLATION, reviewer=senior)
    FlaggedItemFactory(subject=alice, prompt="the lock once more")  # undecided
    miss = FlaggedItemFactory(subject=bob, prompt="a lock too")
    decide(miss, Verdict.VIOLATION, reviewer=senior)
    assert found(reviewer, q="lock", user="3fa9c2e1", organization="acme", verdict="violation") == [
        hit.pk
    ]
    assert found(reviewer, q="lock", organization="globex") == []


# --- What never shows ------------------------------------------------------------------------


def test_it_never_finds_golden_items_nor_the_reserved_subjects(reviewer, senior, acme):
    gold = GoldItemFactory(organization=acme, prompt="a lock, golden")
    reserved = SubjectFactory(organization=acme, user_id_hash=GOLD_SUBJECT_HASH)
    FlaggedItemFactory(subject=reserved, gold=gold, prompt="a lock, golden", request_id="g-1")
    FlaggedItemFactory(subject=reserved, prompt="a lock, reserved", request_id="g-2")
    real = FlaggedItemFactory(subject=SubjectFactory(organization=acme), prompt="a lock")
    for user in (reviewer, senior):
        assert found(user, q="lock") == [real.pk]
        assert found(user, q="g-1") == []
        assert found(user, organization="acme") == [real.pk]
        # Not even the box's "matched by request id" tells a golden serving's id exists.
        page = search.search_items(filters=SearchFilters(q="g-1"), user=user)
        assert page.matched_by == "text"


def test_it_shows_escalated_items_to_seniors_only_as_their_pages_do(reviewer, senior, alice):
    escalated = FlaggedItemFactory(
        subject=alice, queue=ReviewQueue.ESCALATED, state=ItemState.ESCALATED
    )
    standard = FlaggedItemFactory(subject=alice)
    assert found(reviewer, organization="acme") == [standard.pk]
    assert found(senior, organization="acme") == [standard.pk, escalated.pk]
    assert "queue" in errors_of(reviewer, queue="escalated")
    assert parse(senior, queue="escalated").queue == "escalated"


def test_it_keeps_a_verdict_waiting_for_a_blind_second_answer_untold(reviewer, alice):
    review = SecondReviewFactory(item=FlaggedItemFactory(subject=alice, state=ItemState.DECIDED))
    assert found(reviewer, verdict="violation") == []
    assert found(reviewer, category="violence") == []
    page = search.search_items(filters=SearchFilters(organization="acme"), user=reviewer)
    assert [(i.pk, i.verdict) for i in page.items] == [(review.item_id, None)]


# --- Keyset pages ----------------------------------------------------------------------------


def test_it_pages_newest_first_without_duplicates_or_gaps(reviewer, alice):
    now = timezone.now()
    # Two share a moment: the id decides between them, and the cursor keeps both.
    moments = [
        now,
        now,
        now - timedelta(1),
        now - timedelta(2),
        now - timedelta(2),
        now - timedelta(3),
        now - timedelta(4),
    ]
    items = [FlaggedItemFactory(subject=alice, received_at=at) for at in moments]
    expected = [i.pk for i in sorted(items, key=lambda i: (i.received_at, i.pk), reverse=True)]
    filters = SearchFilters(organization="acme")
    seen: list[int] = []
    after = None
    pages = 0
    while True:
        page = search.search_items(filters=filters, user=reviewer, after=after, limit=3)
        seen += [i.pk for i in page.items]
        pages += 1
        if not page.next_cursor:
            break
        after = search.cursor_load(page.next_cursor)
    assert seen == expected
    assert pages == 3


def test_it_refuses_a_cursor_changed_or_made_elsewhere():
    good = signing.dumps(["2026-03-01T00:00:00+00:00", 5], salt=search.CURSOR_SALT)
    assert search.cursor_load(good) == search.Cursor(
        received_at=datetime(2026, 3, 1, tzinfo=UTC), pk=5
    )
    forged = signing.dumps(["2026-03-01T00:00:00+00:00", 5], salt="another.salt")
    for text in (good[:-2] + "xx", forged, "2026-03-01_5"):
        with pytest.raises(SearchInvalid) as invalid:
            search.cursor_load(text)
        assert invalid.value.errors == {"after": search.BROKEN_CURSOR}
    assert search.cursor_load("") is None


def test_it_refuses_a_signed_cursor_of_the_wrong_shape():
    for value in (["not a time", 5], ["2026-03-01T00:00:00+00:00", "5"], "x", [1]):
        with pytest.raises(SearchInvalid):
            search.cursor_load(signing.dumps(value, salt=search.CURSOR_SALT))


# --- Bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"user": "3fa9c2e"}, "user"),  # too short
        ({"user": "3fa9c2zz"}, "user"),  # not hex
        ({"user": "a" * 65}, "user"),
        ({"organization": "initech"}, "organization"),
        ({"category": "jaywalking"}, "category"),
        ({"verdict": "escalate"}, "verdict"),
        ({"state": "lost"}, "state"),
        ({"queue": "vip"}, "queue"),
        ({"since": "2026-13-45"}, "since"),
        ({"until": "yesterday"}, "until"),
        ({"since": "2026-03-05", "until": "2026-03-01"}, "until"),
        ({"q": "x" * 501}, "q"),
        ({"request": "r" * 129}, "request"),
        ({"since": "２０２６-03-01"}, "since"),  # fullwidth digits are no date
    ],
)
def test_it_says_what_is_wrong_with_each_filter(reviewer, acme, data, field):
    errors = errors_of(reviewer, **data)
    assert list(errors) == [field]
    assert errors[field]


def test_it_reads_every_error_at_once_and_tidies_what_it_keeps(reviewer, acme):
    assert set(errors_of(reviewer, user="xyz", since="nope", verdict="maybe")) == {
        "user",
        "since",
        "verdict",
    }
    filters = parse(reviewer, q="  lock\x00 ", user="3FA9C2E1", organization="acme")
    assert filters == SearchFilters(q="lock", user="3fa9c2e1", organization="acme")
    assert filters.query_string() == "q=lock&user=3fa9c2e1&organization=acme"


# --- PostgreSQL uses its indexes ------------------------------------------------------------


def _plan(sql: str, params: list[Any]) -> str:
    """The plan PostgreSQL makes when a table scan is ruled out. Plain index scans are ruled
    out too: on a few dozen rows, walking item_received_idx in the result's order with a
    filter costs about as little as the GIN index, and the planner took either. What the
    test asks is whether an index can serve the query's expression at all."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="text search is PostgreSQL's")
def test_it_answers_text_from_the_gin_index(reviewer, alice):
    for n in range(30):
        FlaggedItemFactory(subject=alice, prompt=f"Message number {n} about the weather")
    FlaggedItemFactory(subject=alice, prompt="How do I pick a lock?")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE moderation_flaggeditem")
    items = search._filtered(SearchFilters(q="lock"), reviewer, "text")
    sql, params = items.query.sql_with_params()
    # The search matches on the indexed expression verbatim ...
    assert f"{SEARCH_DOCUMENT_SQL} @@" in sql
    # ... which the GIN index serves. (The whole query's plan on a few dozen rows is the
    # planner's choice among several indexes; on a million rows it is this one.)
    match = (
        f"SELECT id FROM moderation_flaggeditem WHERE {SEARCH_DOCUMENT_SQL} "
        "@@ websearch_to_tsquery('english'::regconfig, %s)"
    )
    assert "item_search_idx" in _plan(match, ["lock"])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the indexes are PostgreSQL's")
def test_it_answers_a_hash_prefix_and_a_request_id_from_their_indexes(reviewer, alice):
    for _ in range(30):
        FlaggedItemFactory(subject=SubjectFactory(organization=alice.organization))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE moderation_flaggeditem")
        cursor.execute("ANALYZE moderation_subject")
    by_hash = search._filtered(SearchFilters(user="3fa9c2e1"), reviewer, "")
    assert "subject_hash_prefix_idx" in _plan(*by_hash.query.sql_with_params())  # type: ignore[arg-type]
    by_request = search._filtered(SearchFilters(request="req-1"), reviewer, "")
    assert "item_request_idx" in _plan(*by_request.query.sql_with_params())  # type: ignore[arg-type]


# --- Saved filters ---------------------------------------------------------------------------


def test_it_saves_a_search_under_a_name_and_replaces_it_by_name(reviewer):
    saved, created = search.saved_filter_save(
        user=reviewer, name=" Locks ", filters=SearchFilters(q="lock", state="pending")
    )
    assert created and saved.name == "Locks" and saved.query == "q=lock&state=pending"
    again, created = search.saved_filter_save(
        user=reviewer, name="Locks", filters=SearchFilters(q="door")
    )
    assert not created and again.pk == saved.pk
    assert list(SavedFilter.objects.values_list("name", "query")) == [("Locks", "q=door")]


@pytest.mark.parametrize(
    ("name", "filters", "message"),
    [
        ("", SearchFilters(q="lock"), "Name the search"),
        ("x" * 81, SearchFilters(q="lock"), "at most 80"),
        ("Everything", SearchFilters(), "nothing to save"),
    ],
)
def test_it_refuses_a_saved_filter_without_a_name_or_a_search(reviewer, name, filters, message):
    with pytest.raises(search.SavedFilterInvalid, match=message):
        search.saved_filter_save(user=reviewer, name=name, filters=filters)
    assert not SavedFilter.objects.exists()


def test_it_keeps_at_most_so_many_saved_filters(reviewer):
    for n in range(search.MAX_SAVED):
        SavedFilter.objects.create(user=reviewer, name=f"s{n}", query="q=x")
    with pytest.raises(search.SavedFilterInvalid, match="delete one first"):
        search.saved_filter_save(user=reviewer, name="one more", filters=SearchFilters(q="y"))
    assert SavedFilter.objects.count() == search.MAX_SAVED


def test_it_keeps_saved_filters_to_their_owner(reviewer, senior):
    mine, _ = search.saved_filter_save(user=reviewer, name="Mine", filters=SearchFilters(q="a"))
    search.saved_filter_save(user=senior, name="Mine", filters=SearchFilters(q="b"))
    assert [s.query for s in search.saved_filters(reviewer)] == ["q=a"]
    assert search.saved_filter_delete(user=senior, pk=mine.pk) is False
    assert SavedFilter.objects.filter(pk=mine.pk).exists()
    assert search.saved_filter_delete(user=reviewer, pk=mine.pk) is True
    assert [s.query for s in search.saved_filters(senior)] == ["q=b"]


def test_other_organizations_do_not_change_a_user_hash_search(reviewer, alice):
    other = SubjectFactory(organization=OrganizationFactory(), user_id_hash=HASH_A)
    a = FlaggedItemFactory(subject=alice)
    o = FlaggedItemFactory(subject=other)
    # The same hash in two organizations is two users; both match the prefix.
    assert sorted(found(reviewer, user="3fa9c2e1")) == sorted([a.pk, o.pk])
    assert found(reviewer, user="3fa9c2e1", organization="acme") == [a.pk]
