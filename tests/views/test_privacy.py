"""/privacy/: admins answer a person's request for a copy of their data or for its erasure, and
export the reviewed items as training data."""

from __future__ import annotations

import json

import pytest

from moderation.models import (
    AuditAction,
    AuditEvent,
    FlaggedItem,
    ItemState,
    Verdict,
)
from tests.factories import (
    FlaggedItemFactory,
    SignalFactory,
    SubjectFactory,
    decide,
    page_of,
    signed_in,
)
from tests.privacy import ALICE_TEXTS, USER_ID

pytestmark = pytest.mark.django_db


# --- /privacy/ -------------------------------------------------------------------------------


def test_the_privacy_page_offers_export_erase_and_training_data(admin_client, acme):
    page = page_of(admin_client.get("/privacy/"))
    for text in (
        "Privacy requests",
        "Export as JSON",
        "Erase content",
        'name="confirm"',
        "Download training data (JSONL)",
        "Acme AI (acme)",
    ):
        assert text in page, text


def test_export_by_raw_id_returns_a_json_attachment_and_is_audited(
    admin_client, admin_user, record
):
    response = admin_client.post(
        "/privacy/export/", {"organization": "acme", "kind": "id", "user": f" {USER_ID} "}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"modqueue-acme-{record.subject.user_id_hash[:12]}.json" in disposition
    document = json.loads(response.content)
    assert document["user_id_hash"] == record.subject.user_id_hash
    assert {i["prompt"] for i in document["items"]} == {ALICE_TEXTS[0], ALICE_TEXTS[3]}
    event = AuditEvent.objects.get(action=AuditAction.SUBJECT_EXPORT)
    assert event.actor == admin_user and event.subject == record.subject
    assert event.detail["via"] == "app"
    # The raw id is hashed on the spot and written nowhere.
    assert USER_ID not in json.dumps(event.detail)


def test_export_by_hash(admin_client, record):
    response = admin_client.post(
        "/privacy/export/",
        {"organization": "acme", "kind": "hash", "user": record.subject.user_id_hash},
    )
    assert json.loads(response.content)["user_id_hash"] == record.subject.user_id_hash


@pytest.mark.parametrize(
    "data, message",
    [
        ({"organization": "acme", "kind": "id", "user": "nobody"}, "Nothing is held about"),
        ({"organization": "acme", "kind": "hash", "user": "ABC"}, "64 lowercase hex characters"),
        ({"organization": "initech", "kind": "id", "user": USER_ID}, "Choose the organization"),
        ({"organization": "acme", "kind": "id", "user": "  "}, "Choose the organization"),
    ],
)
def test_export_of_no_one_says_why_and_logs_nothing(admin_client, record, data, message):
    response = admin_client.post("/privacy/export/", data, follow=True)
    assert message in page_of(response)
    assert not AuditEvent.objects.filter(action=AuditAction.SUBJECT_EXPORT).exists()


@pytest.mark.parametrize("confirm", ["", "yes", "Erase", "erase "])
def test_erasure_needs_the_typed_confirmation(admin_client, record, confirm):
    response = admin_client.post(
        "/privacy/erase/",
        {"organization": "acme", "kind": "id", "user": USER_ID, "confirm": confirm},
        follow=True,
    )
    assert "Type &quot;erase&quot; to confirm" in page_of(response)
    assert FlaggedItem.objects.filter(subject=record.subject, prompt=ALICE_TEXTS[0]).exists()
    assert not AuditEvent.objects.filter(action=AuditAction.SUBJECT_ERASE).exists()


def test_erasure_with_the_confirmation_erases_and_is_audited(admin_client, admin_user, record):
    response = admin_client.post(
        "/privacy/erase/",
        {"organization": "acme", "kind": "id", "user": USER_ID, "confirm": "erase"},
        follow=True,
    )
    page = page_of(response)
    assert "Erased the text of 2 item(s), 2 note(s) and 1 appeal message(s)" in page
    assert not FlaggedItem.objects.filter(subject=record.subject).exclude(prompt="").exists()
    record.subject.refresh_from_db()
    assert (record.subject.violations, record.subject.reviewed) == (1, 2)
    event = AuditEvent.objects.get(action=AuditAction.SUBJECT_ERASE)
    assert event.actor == admin_user and event.subject == record.subject
    assert event.detail["via"] == "app"


def test_erasure_on_the_page_takes_the_users_waiting_items_out_of_the_queue(
    admin_client, record, reviewer
):
    waiting = FlaggedItemFactory(subject=record.subject, prompt="ALICE-WAITING")
    response = admin_client.post(
        "/privacy/erase/",
        {"organization": "acme", "kind": "id", "user": USER_ID, "confirm": "erase"},
        follow=True,
    )
    assert "1 item nobody had decided left the queues" in page_of(response)
    waiting.refresh_from_db()
    assert waiting.state == ItemState.ERASED
    # The queue page counts only Bob's item now.
    queue = signed_in(admin_client, reviewer).get("/queue/")
    assert sum(q["pending"] for q in queue.context["summaries"]) == 1


# --- /exports/training.jsonl -----------------------------------------------------------------


def test_the_training_export_streams_json_lines_and_is_audited(
    admin_client, admin_user, acme, reviewer
):
    item = FlaggedItemFactory(
        subject=SubjectFactory(organization=acme), prompt="Mail me at bob@example.com"
    )
    SignalFactory(item=item, score=0.66)
    decide(item, Verdict.VIOLATION, "harassment", reviewer=reviewer)
    FlaggedItemFactory(subject=item.subject, prompt="not decided yet")
    response = admin_client.get("/exports/training.jsonl")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    assert 'filename="modqueue-training.jsonl"' in response["Content-Disposition"]
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert [json.loads(line)["text"] for line in lines] == ["Mail me at [email]"]
    row = json.loads(lines[0])
    assert row["verdict"] == "violation" and row["categories"] == ["harassment"]
    assert row["signals"][0]["score"] == 0.66
    event = AuditEvent.objects.get(action=AuditAction.TRAINING_EXPORT)
    assert event.actor == admin_user and event.detail == {"via": "app"}
