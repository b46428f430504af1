"""Items and signals inserted by `unnest` (PostgreSQL) are the rows bulk_create makes.

services/ingest.py inserts without model instances on PostgreSQL and with bulk_create on the
SQLite demo; both paths run here on PostgreSQL and every column of their rows is compared.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from moderation.models import FlaggedItem, PolicyCategory, Signal, Subject
from moderation.services import ingest
from tests.conftest import make_item
from tests.factories import accept_and_process

pytestmark = pytest.mark.django_db


def _rows(acme: Any) -> list[dict[str, Any]]:
    subject = Subject.objects.create(organization=acme, user_id_hash="h" * 64)
    now = timezone.now()
    common = {"organization_id": acme.pk, "subject_id": subject.pk, "batch_id": None}
    return [
        {
            **common,
            "request_id": "plain",
            "prompt": "Tell me how",
            "response": "",
            "model": "m",
            "metadata": {},
            "messages": None,
            "flagged_turn": None,
            "flagged_at": now - timedelta(hours=3),
            "received_at": now,
            "priority": 3640,
            "queue": "critical",
            "queued_at": now,
            "due_at": now + timedelta(minutes=5),
            "state": "pending",
            "decided_at": None,
            "content_erased_at": None,
        },
        {
            **common,
            "request_id": 'conversation ünïcode "quoted" {braces}',
            "prompt": "línea 1\nline 2 \\ back\tslash, 'quote' \"dq\" {not,an,array}",
            "response": "NULL",
            "model": "",
            "metadata": {"surface": "api", "nested": {"list": [1, 2.5, None, "x"]}, "n": None},
            "messages": [
                {"role": "system", "content": "be nice"},
                {"role": "user", "content": "hi ☃", "name": "u"},
            ],
            "flagged_turn": 1,
            "flagged_at": now,
            "received_at": now,
            "priority": 0,
            "queue": "audit",
            "queued_at": now,
            "due_at": now,
            "state": "allowed",
            "decided_at": now,
            "content_erased_at": now,
        },
    ]


def _stored_items() -> list[dict[str, Any]]:
    return list(FlaggedItem.objects.order_by("request_id").values(*_columns(FlaggedItem)))


def _columns(model: Any) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields if not f.primary_key]


def test_unnest_and_bulk_create_insert_the_same_item_and_signal_rows(acme, monkeypatch):
    rows = _rows(acme)
    violence = PolicyCategory.objects.get(slug="violence")

    def insert() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        ids = ingest.items_insert(rows)
        assert set(ids) == {(acme.pk, row["request_id"]) for row in rows}
        assert set(ids.values()) == set(FlaggedItem.objects.values_list("pk", flat=True))
        ingest.signals_insert(
            [
                {
                    "item_id": pk,
                    "classifier": "clf",
                    "category_id": violence.pk,
                    "label": f"violence {n}",
                    "score": 0.125 * n,
                }
                for n, pk in enumerate(sorted(ids.values()))
            ]
        )
        items = _stored_items()
        signals = list(
            Signal.objects.order_by("label").values("item__request_id", *_columns(Signal))
        )
        for signal in signals:
            del signal["item_id"]  # compared through the item's request id
        Signal.objects.all().delete()
        FlaggedItem.objects.all().delete()
        return items, signals

    assert ingest.unnest_inserts()
    by_unnest = insert()
    monkeypatch.setattr(ingest, "unnest_inserts", lambda: False)
    by_bulk_create = insert()

    assert by_unnest == by_bulk_create
    items, signals = by_unnest
    assert [item["request_id"] for item in items] == sorted(row["request_id"] for row in rows)
    assert items[0]["messages"][1]["content"] == "hi ☃"
    assert items[0]["metadata"]["nested"] == {"list": [1, 2.5, None, "x"]}
    assert items[1]["messages"] is None  # SQL NULL, as Django stores None, not JSON null
    assert [s["score"] for s in signals] == [0.0, 0.125]


def test_a_batch_processed_either_way_makes_the_same_rows(signed_key, acme, monkeypatch):
    sent = [
        make_item(1),
        make_item(2, messages=[{"role": "user", "content": "how do I hurt"}], flagged_turn=0),
        make_item(3, signals=[{"classifier": "a", "category": "violence", "score": 0.2}] * 2),
    ]
    accept_and_process(signed_key.api_key, *sent)
    by_unnest = _stored_items()
    signals_unnest = sorted(Signal.objects.values_list("item__request_id", "classifier", "score"))
    Signal.objects.all().delete()
    FlaggedItem.objects.all().delete()

    monkeypatch.setattr(ingest, "unnest_inserts", lambda: False)
    accept_and_process(signed_key.api_key, *sent)
    by_bulk_create = _stored_items()
    signals_bulk = sorted(Signal.objects.values_list("item__request_id", "classifier", "score"))

    # Each batch has its own id and received time; every other column is the same.
    varying = ("batch_id", "received_at", "queued_at", "due_at", "flagged_at")
    for rows in (by_unnest, by_bulk_create):
        for row in rows:
            for column in varying:
                row.pop(column)
    assert by_unnest == by_bulk_create
    assert len(by_unnest) == 3
    assert signals_unnest == signals_bulk
    assert len(signals_unnest) == 4


def test_a_row_naming_an_unknown_column_is_refused(acme):
    rows = _rows(acme)
    rows[0]["colour"] = "red"
    with pytest.raises(ValueError, match="colour"):
        ingest.items_insert(rows)
    assert not FlaggedItem.objects.exists()


def test_the_batch_payload_is_compressed_with_lz4():
    """Migration 0018: a 500-item payload costs PostgreSQL less CPU to write and read."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attcompression FROM pg_attribute "
            "WHERE attrelid = 'moderation_inboundbatch'::regclass AND attname = 'payload'"
        )
        assert cursor.fetchone() == ("l",)
