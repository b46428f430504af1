"""The ingest service: accept a message durably, turn it into queued review items exactly once.

Priority and routing are in test_ingest_priority.py, the sweeper in test_ingest_sweep.py.
"""

from __future__ import annotations

import uuid

import pytest
from django.apps import apps
from django.db import connection
from django.utils import timezone

from moderation import selectors
from moderation.api.schema import validate_items
from moderation.models import BatchStatus, FlaggedItem, InboundBatch, Signal, Subject
from moderation.services.ingest import batch_accept, batch_process, batch_record_failure
from moderation.services.subjects import subject_hash
from tests.conftest import make_item
from tests.factories import accept, accept_and_process, signal

pytestmark = pytest.mark.django_db


# --- Items and duplicates ----------------------------------------------------------------


def test_it_turns_each_item_of_a_batch_into_a_pending_item(signed_key):
    batch = accept_and_process(signed_key.api_key, *(make_item(n) for n in range(5)))
    assert batch.status == BatchStatus.PROCESSED
    assert (batch.received, batch.created, batch.duplicates) == (5, 5, 0)
    assert batch.processed_at is not None
    items = FlaggedItem.objects.filter(batch=batch)
    assert sorted(items.values_list("request_id", flat=True)) == [f"req_{n:04d}" for n in range(5)]
    first = items.get(request_id="req_0000")
    assert first.state == "pending"
    assert first.organization.slug == "acme"
    assert first.prompt == make_item(0)["prompt"]
    assert first.response == "I can't help with that."
    assert first.model == "claude-sonnet"
    assert first.metadata == {"surface": "api"}


def test_it_creates_one_item_per_request_id_within_a_batch(signed_key):
    batch = accept_and_process(
        signed_key.api_key,
        make_item(1, prompt="first"),
        make_item(1, prompt="second"),
        make_item(2),
        make_item(1, prompt="third"),
    )
    assert (batch.received, batch.created, batch.duplicates) == (4, 2, 2)
    assert FlaggedItem.objects.count() == 2
    # The first delivery of a request_id wins.
    assert FlaggedItem.objects.get(request_id="req_0001").prompt == "first"


def test_it_creates_one_item_per_request_id_across_batches(signed_key):
    accept_and_process(signed_key.api_key, make_item(1), make_item(2))
    again = accept_and_process(signed_key.api_key, make_item(2), make_item(3), make_item(1))
    assert (again.received, again.created, again.duplicates) == (3, 1, 2)
    assert FlaggedItem.objects.count() == 3
    assert FlaggedItem.objects.get(request_id="req_0003").batch == again


def test_the_same_request_id_in_two_organizations_is_two_items(unbound_key):
    batch = accept_and_process(
        unbound_key.api_key,
        make_item(1, organization="acme"),
        make_item(1, organization="globex"),
    )
    assert (batch.created, batch.duplicates) == (2, 0)
    slugs = FlaggedItem.objects.values_list("organization__slug", flat=True)
    assert sorted(slugs) == ["acme", "globex"]


def test_it_takes_flagged_at_from_the_item_or_else_the_time_of_receipt(signed_key):
    before = timezone.now()
    accept_and_process(
        signed_key.api_key,
        make_item(1, flagged_at="2026-01-02T03:04:05+02:00"),
        make_item(2),
    )
    given = FlaggedItem.objects.get(request_id="req_0001").flagged_at
    assert given.isoformat() == "2026-01-02T01:04:05+00:00"
    assert FlaggedItem.objects.get(request_id="req_0002").flagged_at >= before


def test_it_answers_a_seen_webhook_id_with_the_first_batch(signed_key):
    first = accept(signed_key.api_key, make_item(1), webhook_id="msg_once")
    valid, _ = validate_items(
        {"items": [make_item(2)]},
        key_organization="acme",
        organizations={"acme"},
        category_for_label=selectors.category_labels(),
    )
    again, created = batch_accept(api_key=signed_key.api_key, webhook_id="msg_once", items=valid)
    assert not created
    assert again.pk == first.pk
    assert InboundBatch.objects.count() == 1


# --- Subjects and signals ----------------------------------------------------------------


def test_it_creates_subjects_and_reuses_them(signed_key):
    accept_and_process(
        signed_key.api_key,
        make_item(1, user_id="u-a"),
        make_item(2, user_id="u-a"),
        make_item(3, user_id="u-b"),
    )
    assert Subject.objects.count() == 2
    a = Subject.objects.get(user_id_hash=subject_hash(organization_slug="acme", user_id="u-a"))
    assert a.items.count() == 2
    assert a.status == "active" and (a.violations, a.reviewed) == (0, 0)

    accept_and_process(signed_key.api_key, make_item(4, user_id="u-a"), make_item(5, user_id="u-c"))
    assert Subject.objects.count() == 3
    assert a.items.count() == 3


def test_it_keeps_a_given_user_id_hash_as_the_subject(signed_key):
    given = "0123456789abcdef" * 4
    payload = make_item(1)
    del payload["user_id"]
    accept_and_process(signed_key.api_key, {**payload, "user_id_hash": given})
    assert FlaggedItem.objects.get().subject.user_id_hash == given


def test_one_user_id_in_two_organizations_is_two_subjects(unbound_key):
    accept_and_process(
        unbound_key.api_key,
        make_item(1, organization="acme", user_id="u-same"),
        make_item(2, organization="globex", user_id="u-same"),
    )
    hashes = dict(Subject.objects.values_list("organization__slug", "user_id_hash"))
    assert hashes == {
        "acme": subject_hash(organization_slug="acme", user_id="u-same"),
        "globex": subject_hash(organization_slug="globex", user_id="u-same"),
    }
    assert hashes["acme"] != hashes["globex"]


def test_it_stores_signals_with_the_category_slug_and_the_label_as_sent(signed_key):
    accept_and_process(
        signed_key.api_key,
        make_item(
            1,
            signals=[
                {"classifier": "corpus", "category": "V2", "score": 0.8},
                {"classifier": "corpus", "category": "hate", "score": 0.4},
                {"classifier": "other-model", "category": "S3", "score": 0.97},
            ],
        ),
    )
    stored = {
        (s.classifier, s.category.slug, s.label, s.score)
        for s in Signal.objects.select_related("category")
    }
    assert stored == {
        ("corpus", "violence", "V2", 0.8),
        ("corpus", "hate", "hate", 0.4),
        ("other-model", "child-safety", "S3", 0.97),
    }


def test_it_empties_the_payload_once_processed(signed_key):
    batch = accept(signed_key.api_key, make_item(1), make_item(2))
    assert len(InboundBatch.objects.get(pk=batch.pk).payload) == 2
    batch_process(batch_id=str(batch.pk))
    assert InboundBatch.objects.get(pk=batch.pk).payload is None


def columns_holding(text: str) -> list[str]:
    """Every column of every table of the app, JSON included, cast to text and searched."""
    found = []
    with connection.cursor() as cursor:
        for model in apps.get_app_config("moderation").get_models():
            table = connection.ops.quote_name(model._meta.db_table)
            for field in model._meta.concrete_fields:
                column = connection.ops.quote_name(field.column)
                cursor.execute(
                    f"SELECT count(*) FROM {table} WHERE CAST({column} AS text) LIKE %s",
                    [f"%{text}%"],
                )
                if cursor.fetchone()[0]:
                    found.append(f"{model._meta.db_table}.{field.column}")
    return found


def test_it_never_stores_the_raw_user_id_anywhere(unbound_key):
    raw = "alice.raw-id-7f3a@example.com"
    batch = accept(
        unbound_key.api_key,
        make_item(1, organization="acme", user_id=raw),
        make_item(2, organization="globex", user_id=raw),
    )
    assert columns_holding(raw) == []
    batch_process(batch_id=str(batch.pk))
    assert FlaggedItem.objects.count() == 2
    assert columns_holding(raw) == []
    # The search does find what is stored: the prompt, and the hash in its subject row.
    assert columns_holding("variant 1") == ["moderation_flaggeditem.prompt"]
    assert "moderation_subject.user_id_hash" in columns_holding(
        subject_hash(organization_slug="acme", user_id=raw)
    )


# --- Exactly once ------------------------------------------------------------------------


def test_processing_a_batch_twice_is_a_no_op(signed_key):
    batch = accept(signed_key.api_key, make_item(1), make_item(1), make_item(2))
    first = batch_process(batch_id=str(batch.pk))
    assert first is not None and (first.created, first.duplicates) == (2, 1)
    assert batch_process(batch_id=str(batch.pk)) is None
    assert FlaggedItem.objects.count() == 2
    assert Signal.objects.count() == 2
    again = InboundBatch.objects.get(pk=batch.pk)
    assert (again.status, again.created, again.duplicates) == ("processed", 2, 1)


def test_processing_an_unknown_batch_does_nothing(db):
    assert batch_process(batch_id=str(uuid.uuid4())) is None


@pytest.mark.parametrize("size", [10, 200])
def test_processing_takes_the_same_number_of_queries_at_any_batch_size(
    signed_key, django_assert_num_queries, size
):
    # Warm the one-off caches (content types and the like) so only the processing is counted.
    accept_and_process(signed_key.api_key, make_item(10_000))
    batch = accept(
        signed_key.api_key,
        *(make_item(n, signals=[*signal("violence", 0.5), *signal("H", 0.7)]) for n in range(size)),
    )
    # select the batch, organizations, categories, existing request_ids, subjects (insert and
    # select), the queue targets, items, signals, batch update; and the savepoint around
    # them. The organization's policy exceptions were read by the first batch and are kept
    # per process (services/config_cache.py).
    with django_assert_num_queries(12):
        batch_process(batch_id=str(batch.pk))
    assert FlaggedItem.objects.filter(batch=batch).count() == size
    assert Signal.objects.filter(item__batch=batch).count() == 2 * size


# --- Failures ----------------------------------------------------------------------------


# --- Failures ----------------------------------------------------------------------------


def test_recording_a_failure_leaves_a_processed_batch_alone(signed_key):
    batch = accept_and_process(signed_key.api_key, make_item(1))
    batch_record_failure(batch_id=str(batch.pk), error=RuntimeError("stray"))
    batch.refresh_from_db()
    assert (batch.status, batch.attempts, batch.last_error) == ("processed", 0, "")
