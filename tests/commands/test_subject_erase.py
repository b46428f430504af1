"""The subject_erase command (CONTRACT §2): the person's words erased everywhere, their counts and
the anonymous record kept, their waiting items out of the queues; checked on a database dump."""

from __future__ import annotations

import json
import subprocess

import pytest

from moderation.models import AuditAction, AuditEvent, FlaggedItem, ItemState, Subject
from moderation.services.claims import claim_hand
from tests.factories import FlaggedItemFactory, manage, run_json
from tests.privacy import ALICE_TEXTS, BOB_TEXTS, USER_ID, record_of_alice
from tests.processes import database_url_for_tests

pytestmark = pytest.mark.django_db


def test_subject_erase_erases_keeps_the_counts_and_prints_what_it_did(record):
    before = Subject.objects.get(pk=record.subject.pk)
    printed = run_json("subject_erase", "acme", USER_ID)
    assert printed == {
        "user_id_hash": record.subject.user_id_hash,
        "erased": {"items": 2, "unreviewed": 0, "notes": 2, "appeals": 1, "pending_items": 2},
    }
    after = Subject.objects.get(pk=record.subject.pk)
    assert (after.status, after.violations, after.reviewed) == (
        before.status,
        before.violations,
        before.reviewed,
    )
    assert not FlaggedItem.objects.filter(subject=after).exclude(prompt="").exists()
    event = AuditEvent.objects.get(action=AuditAction.SUBJECT_ERASE)
    assert event.actor is None and event.subject == after
    assert event.detail["via"] == "command line"
    # What is left to export is the anonymous record.
    document = run_json("subject_export", "acme", USER_ID)
    assert not any(words in json.dumps(document) for words in ALICE_TEXTS)
    verdicts = {i["request_id"]: [d["verdict"] for d in i["decisions"]] for i in document["items"]}
    assert verdicts == {"alice-req-1": ["violation"], "alice-req-2": ["escalate", "no_violation"]}


def test_subject_erase_takes_the_users_undecided_items_out_of_the_queues(record, reviewer):
    pending = FlaggedItemFactory(subject=record.subject, prompt="ALICE-WAITING")
    held = FlaggedItemFactory(subject=record.subject, prompt="ALICE-HELD")
    claim_hand(item=held, user=reviewer)
    printed = run_json("subject_erase", "acme", USER_ID)
    assert printed["erased"]["unreviewed"] == 2
    for item in FlaggedItem.objects.filter(pk__in=[pending.pk, held.pk]):
        assert (item.state, item.claimed_by, item.prompt) == (ItemState.ERASED, None, "")
    assert not FlaggedItem.objects.filter(
        subject=record.subject, state__in=[ItemState.PENDING, ItemState.CLAIMED]
    ).exists()
    event = AuditEvent.objects.get(action=AuditAction.SUBJECT_ERASE)
    assert event.detail["unreviewed"] == 2


def test_subject_erase_by_hash(record):
    printed = run_json("subject_erase", "acme", record.subject.user_id_hash, "--hash")
    assert printed["erased"]["items"] == 2


@pytest.mark.django_db(transaction=True)
def test_after_an_erasure_a_dump_of_the_whole_database_holds_none_of_the_users_words(
    acme, reviewer, senior
):
    record = record_of_alice(acme, reviewer, senior)

    def dump() -> str:
        return subprocess.run(
            ["pg_dump", "--data-only", database_url_for_tests()],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    before = dump()
    assert all(words in before for words in ALICE_TEXTS + BOB_TEXTS)  # the dump sees them

    done = manage("subject_erase", "acme", USER_ID)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["user_id_hash"] == record.subject.user_id_hash

    after = dump()
    left = [words for words in ALICE_TEXTS if words in after]
    assert left == [], f"still in the database after erasure: {left}"
    for words in BOB_TEXTS:
        assert words in after, f"another user's text went too: {words}"
    assert record.subject.user_id_hash in after  # the anonymous record stays
    assert USER_ID not in after
