"""The item table's indexes (migration 0020, docs/performance.md "The item table's indexes"):
what a new item costs ingest, and that the look-ups the dropped foreign-key indexes served
are still served by an index."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from moderation.models import FlaggedItem, ItemState
from tests.factories import FlaggedItemFactory, UserFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's catalogue"),
]


def _indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s",
            [FlaggedItem._meta.db_table],
        )
        return dict(cursor.fetchall())


def _plan(queryset: Any) -> str:
    """The plan when a table scan is ruled out: can an index serve the query at all?"""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_no_foreign_key_has_an_index_of_its_own_that_another_one_serves():
    found = _indexes()
    for column in ("organization_id", "subject_id", "batch_id", "claimed_by_id", "gold_id"):
        whole = [name for name, d in found.items() if d.endswith(f"({column})")]
        assert whole == [], f"{column}: {whole}"
    assert "WHERE (claimed_by_id IS NOT NULL)" in found["item_claimed_by_idx"]
    assert "WHERE (gold_id IS NOT NULL)" in found["item_gold_idx"]
    # What a new pending item pays: the primary key, the unique request id, the claim's and
    # the queues' partial indexes, the subject's history, received, request id, search.
    partial_elsewhere = {
        "item_claimed_by_idx",
        "item_claimed_lease_idx",
        "item_gold_idx",
        "item_retention_idx",
    }
    assert len(set(found) - partial_elsewhere) == 8, sorted(found)


def test_the_look_ups_of_the_dropped_indexes_are_served(reviewer):
    user = UserFactory()
    item = FlaggedItemFactory(state=ItemState.CLAIMED, claimed_by=user)
    plans = {
        "organization": _plan(FlaggedItem.objects.filter(organization_id=item.organization_id)),
        "subject": _plan(FlaggedItem.objects.filter(subject_id=item.subject_id)),
        "held": _plan(FlaggedItem.objects.filter(state=ItemState.CLAIMED, claimed_by=user)),
        "deleting a user": _plan(FlaggedItem.objects.filter(claimed_by_id__in=[user.pk])),
        "golden copies": _plan(FlaggedItem.objects.filter(gold__isnull=False)),
        "a golden item's copies": _plan(FlaggedItem.objects.filter(gold_id=1)),
    }
    expected = {
        "organization": "item_unique_request_per_org",
        "subject": "item_subject_idx",
        # On a few rows either partial index of claimed items serves it.
        "held": ("item_claimed_by_idx", "item_claimed_lease_idx"),
        "deleting a user": "item_claimed_by_idx",
        "golden copies": "item_gold_idx",
        "a golden item's copies": "item_gold_idx",
    }
    for name, indexes in expected.items():
        names = indexes if isinstance(indexes, tuple) else (indexes,)
        assert any(index in plans[name] for index in names), f"{name}:\n{plans[name]}"
