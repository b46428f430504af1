"""The policy and privacy commands of CONTRACT §2: grant_exception, subject_export, subject_erase,
and export_training, through call_command and, for exit status and the database dump, a shell."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from moderation.models import (
    AuditAction,
    AuditEvent,
    FlaggedItem,
    ItemState,
    PolicyException,
    Subject,
)
from moderation.services.claims import claim_hand
from moderation.services.policy import exception_grant
from moderation.services.retention import retention_erase
from tests.factories import (
    HARD_LIMITS,
    FlaggedItemFactory,
    SignalFactory,
    SubjectFactory,
    category,
    decide,
    manage,
    run,
    run_json,
)
from tests.privacy import ALICE_TEXTS, BOB_TEXTS, USER_ID, record_of_alice
from tests.processes import database_url_for_tests

pytestmark = pytest.mark.django_db


@pytest.fixture
def record(acme, reviewer, senior):
    return record_of_alice(acme, reviewer, senior)


# --- subject_export ------------------------------------------------------------------------------


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


@pytest.mark.parametrize("command", ["subject_export", "subject_erase"])
def test_subject_commands_refuse_an_unknown_organization(record, command):
    with pytest.raises(CommandError, match="no organization 'initech'"):
        run(command, "initech", USER_ID)


@pytest.mark.parametrize("command", ["subject_export", "subject_erase"])
def test_subject_commands_refuse_an_unknown_user(record, command):
    with pytest.raises(CommandError, match="nothing is held about this user"):
        run(command, "acme", "never-seen")
    unknown_hash = "0" * 64
    with pytest.raises(CommandError, match="nothing is held about this user"):
        run(command, "acme", unknown_hash, "--hash")
    assert not AuditEvent.objects.filter(
        action__in=[AuditAction.SUBJECT_EXPORT, AuditAction.SUBJECT_ERASE]
    ).exists()


@pytest.mark.parametrize("command", ["subject_export", "subject_erase"])
@pytest.mark.parametrize("given", ["abc", "A" * 64, "g" * 64, "0" * 63, USER_ID])
def test_subject_commands_refuse_a_malformed_hash(record, command, given):
    with pytest.raises(CommandError, match="64 lowercase hex characters"):
        run(command, "acme", given, "--hash")


def test_subject_export_of_the_same_id_in_another_organization_finds_no_one(record, globex):
    with pytest.raises(CommandError, match="nothing is held"):
        run("subject_export", "globex", USER_ID)


# --- subject_erase -------------------------------------------------------------------------------


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


@pytest.mark.django_db(transaction=True)
def test_from_a_shell_the_subject_commands_exit_non_zero_with_a_clear_message(acme):
    SubjectFactory(organization=acme)
    cases = [
        (("subject_export", "initech", "u-1"), "no organization 'initech'"),
        (("subject_export", "acme", "never-seen"), "nothing is held about this user"),
        (("subject_export", "acme", "xyz", "--hash"), "64 lowercase hex characters"),
        (("subject_erase", "acme", "never-seen"), "nothing is held about this user"),
    ]
    for argv, message in cases:
        done = manage(*argv)
        assert done.returncode != 0, argv
        assert message in done.stderr, (argv, done.stderr)
        assert done.stdout == "" and "Traceback" not in done.stderr


# --- grant_exception -----------------------------------------------------------------------------


def test_grant_exception_grants_foreign_intelligence_and_prints_it(acme):
    until = (timezone.now() + timedelta(days=365)).date()
    printed = run_json(
        "grant_exception",
        "acme",
        "foreign-intelligence",
        "--until",
        until.isoformat(),
        "--reference",
        "CTR-2026-017",
        "--scope",
        "Analysis of foreign state actors",
    )
    exception = PolicyException.objects.get()
    assert printed == {
        "exception_id": exception.pk,
        "organization": "acme",
        "category": "foreign-intelligence",
        "valid_from": exception.valid_from.isoformat(),
        "valid_until": exception.valid_until.isoformat(),
        "reference": "CTR-2026-017",
    }
    # Valid to the end of its last day, UTC.
    assert exception.valid_until.astimezone(UTC).date() == until
    assert exception.valid_until.astimezone(UTC).hour == 23
    assert exception.scope == "Analysis of foreign state actors"
    assert exception.approved_via == "command line" and exception.approved_by is None
    event = AuditEvent.objects.get(action=AuditAction.EXCEPTION_GRANT)
    assert event.detail["via"] == "command line"


def test_grant_exception_takes_a_start_date_and_an_alias(acme):
    printed = run_json(
        "grant_exception",
        "acme",
        "V",
        "--from",
        "2030-01-01",
        "--until",
        "2030-12-31",
        "--reference",
        "CTR-9",
    )
    assert printed["category"] == "violence"
    exception = PolicyException.objects.get()
    assert exception.valid_from == datetime(2030, 1, 1, tzinfo=UTC)
    assert exception.scope  # a default scope naming the category
    assert "Violence" in exception.scope


@pytest.mark.parametrize("slug", [*HARD_LIMITS, "S3"])
def test_grant_exception_refuses_every_hard_limit(acme, slug):
    with pytest.raises(CommandError, match="hard limit") as refused:
        run("grant_exception", "acme", slug, "--until", "2030-01-01", "--reference", "CTR-1")
    assert "refused" in str(refused.value)
    assert not PolicyException.objects.exists()


@pytest.mark.parametrize(
    "dates, message",
    [
        (("--until", "31/12/2030"), "--until must be a date as YYYY-MM-DD"),
        (("--until", "2030-02-30"), "--until must be a date as YYYY-MM-DD"),
        (("--until", "2030-12-31", "--from", "tomorrow"), "--from must be a date as YYYY-MM-DD"),
        (("--until", "2020-01-01"), "end after it starts"),
        (("--until", "2030-01-01", "--from", "2030-06-01"), "end after it starts"),
    ],
)
def test_grant_exception_refuses_bad_dates(acme, dates, message):
    with pytest.raises(CommandError, match=message):
        run("grant_exception", "acme", "foreign-intelligence", *dates, "--reference", "CTR-1")
    assert not PolicyException.objects.exists()


def test_grant_exception_refuses_an_unknown_organization_or_category(acme):
    with pytest.raises(CommandError, match="no organization 'initech'"):
        run(
            "grant_exception",
            "initech",
            "foreign-intelligence",
            "--until",
            "2030-01-01",
            "--reference",
            "CTR-1",
        )
    with pytest.raises(CommandError, match="no policy category or alias 'espionage'"):
        run("grant_exception", "acme", "espionage", "--until", "2030-01-01", "--reference", "CTR-1")
    assert not PolicyException.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_from_a_shell_grant_exception_exits_zero_or_refuses_a_hard_limit_non_zero(acme):
    granted = manage(
        "grant_exception",
        "acme",
        "foreign-intelligence",
        "--until",
        "2030-01-01",
        "--reference",
        "CTR-1",
    )
    assert granted.returncode == 0, granted.stderr
    assert json.loads(granted.stdout)["category"] == "foreign-intelligence"

    refused = manage(
        "grant_exception",
        "acme",
        "autonomous-weapons",
        "--until",
        "2030-01-01",
        "--reference",
        "CTR-1",
    )
    assert refused.returncode != 0
    assert "hard limit" in refused.stderr and "Fully autonomous weapons" in refused.stderr
    assert refused.stdout == "" and "Traceback" not in refused.stderr
    assert list(PolicyException.objects.values_list("category__slug", flat=True)) == [
        "foreign-intelligence"
    ]


# --- export_training -----------------------------------------------------------------------------


@pytest.fixture
def decided_items(acme, reviewer):
    """Four decided items (one erased, one allowed by an exception), one waiting, one allowed at
    ingest."""
    subject = SubjectFactory(organization=acme)

    def item(prompt: str, verdict: str | None, *slugs: str, **fields: Any) -> FlaggedItem:
        flagged = FlaggedItemFactory(subject=subject, prompt=prompt, **fields)
        SignalFactory(item=flagged, classifier="fraud-v3", category=category("fraud"), score=0.83)
        if verdict:
            decide(flagged, verdict, *slugs, reviewer=reviewer, note="a reviewer's note")
        return flagged

    exception_grant(
        organization=acme,
        category=category("foreign-intelligence"),
        scope="analysis",
        reference="CTR-1",
        valid_until=timezone.now() + timedelta(days=30),
    )
    items = {
        "scam": item(
            "Scam jane@example.com, card 4111 1111 1111 1111",
            "violation",
            "fraud",
            response="Call +1 415 555 0132",
        ),
        "clean": item("What is the capital of France?", "no_violation"),
        "intel": item(
            "Assess the foreign ministry's statement", "violation", "foreign-intelligence"
        ),
        "erased": item("ERASED-TEXT about a scam", "no_violation"),
        "waiting": item("WAITING-TEXT not decided", None),
        "allowed": item(
            "ALLOWED-TEXT at ingest",
            None,
            state=ItemState.ALLOWED,
            decided_at=timezone.now(),
        ),
    }
    FlaggedItem.objects.filter(pk=items["erased"].pk).update(
        decided_at=timezone.now() - timedelta(days=100)
    )
    assert retention_erase() == 1
    return items


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_export_training_writes_json_lines_with_personal_data_masked(decided_items, tmp_path):
    path = tmp_path / "training.jsonl"
    call_command("export_training", "--output", str(path), stdout=StringIO(), stderr=StringIO())
    rows = {row["text"]: row for row in read_jsonl(path)}
    assert len(rows) == 3

    scam = rows["Scam [email], card [card]"]
    assert scam["response"] == "Call [phone]"
    assert (scam["verdict"], scam["violation"], scam["allowed_by_exception"]) == (
        "violation",
        True,
        False,
    )
    assert scam["categories"] == ["fraud"]
    assert scam["signals"] == [
        {"classifier": "fraud-v3", "category": "fraud", "label": "fraud", "score": 0.83}
    ]
    assert scam["decided_at"]

    clean = rows["What is the capital of France?"]
    assert (clean["verdict"], clean["violation"], clean["categories"]) == (
        "no_violation",
        False,
        [],
    )
    intel = rows["Assess the foreign ministry's statement"]
    assert (intel["verdict"], intel["violation"], intel["allowed_by_exception"]) == (
        "violation",
        False,
        True,
    )


def test_export_training_leaves_out_erased_undecided_and_ingest_allowed_items(
    decided_items, tmp_path
):
    path = tmp_path / "training.jsonl"
    call_command("export_training", "--output", str(path), stdout=StringIO(), stderr=StringIO())
    text = path.read_text(encoding="utf-8")
    for left_out in ("ERASED-TEXT", "WAITING-TEXT", "ALLOWED-TEXT"):
        assert left_out not in text
    assert '"text": ""' not in text


def test_export_training_holds_nothing_that_leads_back_to_a_person(decided_items, tmp_path):
    path = tmp_path / "training.jsonl"
    call_command("export_training", "--output", str(path), stdout=StringIO(), stderr=StringIO())
    text = path.read_text(encoding="utf-8")
    subject = decided_items["scam"].subject
    for trace in (subject.user_id_hash, "acme", decided_items["scam"].request_id, "jane@"):
        assert trace not in text
    for row in read_jsonl(path):
        assert set(row) == {
            "text",
            "response",
            "verdict",
            "violation",
            "allowed_by_exception",
            "categories",
            "signals",
            "decided_at",
        }


def test_export_training_to_stdout_since_a_day_and_audited(decided_items, capsys):
    call_command("export_training", stderr=StringIO())
    assert len(capsys.readouterr().out.splitlines()) == 3
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    call_command("export_training", "--since", tomorrow, stderr=StringIO())
    assert capsys.readouterr().out == ""
    events = AuditEvent.objects.filter(action=AuditAction.TRAINING_EXPORT).order_by("at", "pk")
    assert [e.detail for e in events] == [
        {"via": "command line", "rows": 3},
        {"via": "command line", "rows": 0},
    ]


def test_export_training_refuses_a_bad_since_date(db):
    with pytest.raises(CommandError, match="--since must be a date as YYYY-MM-DD"):
        call_command("export_training", "--since", "last week", stderr=StringIO())
