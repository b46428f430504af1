"""The subject_export command (CONTRACT §2): everything held about one person as one JSON object,
by raw user id or by hash, audited."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError

from moderation.models import AuditAction, AuditEvent
from tests.factories import run, run_json
from tests.privacy import ALICE_TEXTS, BOB_TEXTS, USER_ID

pytestmark = pytest.mark.django_db


def test_subject_export_by_raw_user_id_prints_everything_as_one_json_object(record):
    document = run_json("subject_export", "acme", USER_ID)
    assert document["user_id_hash"] == record.subject.user_id_hash
    text = json.dumps(document, ensure_ascii=False)
    for words in ALICE_TEXTS[:7]:  # items, notes and the appeal: all but what waits in batches
        assert words in text
    assert {i["request_id"] for i in document["items"]} == {"alice-req-1", "alice-req-2"}
    assert all(i["signals"] and i["decisions"] for i in document["items"])
    assert document["actions"][0]["appeals"][0]["message"] == ALICE_TEXTS[6]
    assert not any(words in text for words in BOB_TEXTS)


def test_subject_export_by_hash_gives_the_same_and_is_audited(record):
    by_id = run_json("subject_export", "acme", USER_ID)
    by_hash = run_json("subject_export", "acme", record.subject.user_id_hash, "--hash")
    assert by_hash == by_id
    events = AuditEvent.objects.filter(action=AuditAction.SUBJECT_EXPORT, subject=record.subject)
    assert events.count() == 2
    assert all(e.actor is None and e.detail["via"] == "command line" for e in events)


def test_subject_export_of_the_same_id_in_another_organization_finds_no_one(record, globex):
    with pytest.raises(CommandError, match="nothing is held"):
        run("subject_export", "globex", USER_ID)
