"""Conversations (CONTRACT §3 v2) under the privacy rules: erasure and retention clear every
turn, the subject export carries the turns, the training export carries them masked."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from moderation.models import FlaggedItem, InboundBatch, PolicySettings, Verdict
from moderation.services.ingest import batch_process
from moderation.services.retention import retention_erase
from moderation.services.subject_rights import subject_erase, subject_export
from moderation.services.training import training_rows
from tests.conftest import make_item
from tests.factories import FlaggedItemFactory, SignalFactory, SubjectFactory, accept, decide

pytestmark = pytest.mark.django_db

TURNS = [
    {"role": "system", "content": "You are the support bot of Acme Bank."},
    {"role": "user", "content": "My card is 4111 1111 1111 1111, mail me at jo@example.com"},
    {"role": "tool", "content": "lookup ok for 192.168.10.4", "name": "crm_lookup"},
    {"role": "assistant", "content": "Thanks, I found your account."},
]
WORDS = ("4111 1111 1111 1111", "jo@example.com", "192.168.10.4", "Acme Bank", "found your")


def conversation(subject: Any, **fields: Any) -> FlaggedItem:
    item = FlaggedItemFactory(
        subject=subject,
        prompt=TURNS[1]["content"],
        messages=[dict(t) for t in TURNS],
        flagged_turn=1,
        **fields,
    )
    SignalFactory(item=item, score=0.9)
    return item


@pytest.fixture
def subject(acme: Any) -> Any:
    return SubjectFactory(organization=acme)


def test_erasure_clears_every_turn_and_keeps_the_flagged_index(subject, admin_user, reviewer):
    decided = conversation(subject)
    decide(decided, Verdict.VIOLATION, "fraud", reviewer=reviewer)
    waiting = conversation(subject)
    subject_erase(subject=subject, actor=admin_user, via="app")
    for item in FlaggedItem.objects.filter(pk__in=[decided.pk, waiting.pk]):
        assert item.messages is None and item.prompt == ""
        assert item.flagged_turn == 1 and item.content_erased_at is not None
        row = FlaggedItem.objects.filter(pk=item.pk).values().get()
        assert not any(w in json.dumps(row, default=str) for w in WORDS)


def test_erasure_clears_the_turns_of_an_item_still_in_a_batch(signed_key, admin_user):
    payload = make_item(1, messages=TURNS, flagged_turn=2)
    del payload["prompt"]
    batch = accept(signed_key.api_key, payload)
    subject = SubjectFactory(
        organization=signed_key.api_key.organization,
        user_id_hash=InboundBatch.objects.get(pk=batch.pk).payload[0]["user_id_hash"],
    )
    counts = subject_erase(subject=subject, actor=admin_user, via="app")
    assert counts["pending_items"] == 1
    entry = InboundBatch.objects.get(pk=batch.pk).payload[0]
    assert entry["messages"] is None and entry["erased"] is True
    assert not any(w in json.dumps(entry) for w in WORDS)
    batch_process(batch_id=str(batch.pk))
    arrived = FlaggedItem.objects.get(request_id="req_0001")
    assert arrived.messages is None and arrived.content_erased_at is not None


def test_retention_clears_the_turns_of_items_decided_long_ago(subject, reviewer):
    old, recent = conversation(subject), conversation(subject)
    decide(old, Verdict.VIOLATION, "fraud", reviewer=reviewer)
    decide(recent, Verdict.VIOLATION, "fraud", reviewer=reviewer)
    days = PolicySettings.current().retention_days
    FlaggedItem.objects.filter(pk=old.pk).update(
        decided_at=timezone.now() - timedelta(days=days + 1)
    )
    assert retention_erase() == 1
    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.messages is None and old.content_erased_at is not None
    assert recent.messages == TURNS


def test_the_subject_export_carries_the_turns_and_the_flagged_turn(subject, admin_user):
    turns = conversation(subject)
    FlaggedItemFactory(subject=subject, prompt="plain prompt")
    document = subject_export(subject=subject, actor=admin_user, via="app")
    # The export lists items newest flag first; the factory's flag time is random.
    (with_turns,) = [i for i in document["items"] if i["request_id"] == turns.request_id]
    (plain,) = [i for i in document["items"] if i["request_id"] != turns.request_id]
    assert with_turns["messages"] == TURNS and with_turns["flagged_turn"] == 1
    assert plain["messages"] is None and plain["flagged_turn"] is None
    json.dumps(document)


def test_the_training_export_carries_every_turn_with_personal_data_masked(subject, reviewer):
    item = conversation(subject)
    decide(item, Verdict.VIOLATION, "fraud", reviewer=reviewer)
    (row,) = list(training_rows())
    assert row["flagged_turn"] == 1
    assert [(t["role"], t.get("name")) for t in row["messages"]] == [
        ("system", None),
        ("user", None),
        ("tool", "crm_lookup"),
        ("assistant", None),
    ]
    assert row["messages"][1]["content"] == "My card is [card], mail me at [email]"
    assert row["messages"][2]["content"] == "lookup ok for [ip]"
    assert not any(w in json.dumps(row) for w in WORDS[:3])


def test_the_training_export_of_a_plain_item_has_no_turns(subject, reviewer):
    item = FlaggedItemFactory(subject=subject, prompt="plain prompt")
    SignalFactory(item=item, score=0.9)
    decide(item, Verdict.NO_VIOLATION, reviewer=reviewer)
    (row,) = list(training_rows())
    assert row["messages"] is None and row["flagged_turn"] is None
