"""The export_training command (CONTRACT §2): decided items as JSON lines with personal data
masked and nothing that leads back to a person, audited."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from moderation.models import AuditAction, AuditEvent, FlaggedItem, ItemState
from moderation.services.policy import exception_grant
from moderation.services.retention import retention_erase
from tests.factories import FlaggedItemFactory, SignalFactory, SubjectFactory, category, decide

pytestmark = pytest.mark.django_db


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
            "messages",
            "flagged_turn",
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
