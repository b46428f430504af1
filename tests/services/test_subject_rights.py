"""A person's rights: a copy of everything held about them, or the erasure of their words."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from moderation import selectors
from moderation.models import (
    Appeal,
    AuditAction,
    AuditEvent,
    BatchStatus,
    Decision,
    EnforcementAction,
    FlaggedItem,
    InboundBatch,
    ItemState,
    Signal,
    Subject,
    Verdict,
)
from moderation.services import claims
from moderation.services.ingest import batch_process
from moderation.services.review import ClaimConflict, decision_record
from moderation.services.subject_rights import subject_erase, subject_export, subject_resolve
from tests.factories import FlaggedItemFactory, SignalFactory, decide
from tests.privacy import ALICE_TEXTS, BOB_TEXTS, OTHER_USER_ID, USER_ID

pytestmark = pytest.mark.django_db


# --- Finding the person ------------------------------------------------------------------------


def test_it_finds_the_subject_by_raw_user_id_or_by_hash(record, acme, globex):
    alice = record.subject
    assert subject_resolve(organization=acme, user_id=USER_ID) == alice
    assert subject_resolve(organization=acme, user_id_hash=alice.user_id_hash) == alice
    assert subject_resolve(organization=acme, user_id=OTHER_USER_ID) == record.other
    assert subject_resolve(organization=acme, user_id="nobody") is None
    # Ids are per organization: the same id elsewhere is someone else (or no one).
    assert subject_resolve(organization=globex, user_id=USER_ID) is None


# --- Export --------------------------------------------------------------------------------------


def test_the_export_holds_every_item_with_its_text_signals_and_decisions(record, admin_user):
    document = subject_export(subject=record.subject, actor=admin_user, via="app")
    assert document["organization"] == "acme"
    assert document["user_id_hash"] == record.subject.user_id_hash
    assert (document["status"], document["violations"], document["reviewed"]) == ("warned", 1, 2)
    assert document["violation_rate"] == 0.5
    items = {i["request_id"]: i for i in document["items"]}
    assert set(items) == {"alice-req-1", "alice-req-2"}

    one = items["alice-req-1"]
    assert one["prompt"] == ALICE_TEXTS[0] and one["response"] == ALICE_TEXTS[1]
    assert one["metadata"] == {"trace": ALICE_TEXTS[2]} and one["model"] == "claude-sonnet"
    assert one["state"] == "decided" and one["content_erased_at"] is None
    assert one["signals"] == [{"classifier": "fraud-v3", "category": "fraud", "score": 0.88}]
    (decision,) = one["decisions"]
    assert decision["verdict"] == "violation" and decision["categories"] == ["fraud"]
    assert decision["note"] == ALICE_TEXTS[4] and decision["allowed_by_exception"] is False
    assert decision["decided_at"]

    two = items["alice-req-2"]
    assert two["prompt"] == ALICE_TEXTS[3]
    assert [d["verdict"] for d in two["decisions"]] == ["escalate", "no_violation"]
    assert two["decisions"][0]["note"] == ALICE_TEXTS[5]
    assert [s["category"] for s in two["signals"]] == ["violence"]


def test_the_export_holds_the_actions_and_their_appeals(record, admin_user):
    document = subject_export(subject=record.subject, actor=admin_user, via="app")
    (action,) = document["actions"]
    assert action["action_id"] == str(record.warn.pk)
    assert (action["action"], action["state"], action["decided_by"]) == (
        "warn",
        "taken",
        "threshold",
    )
    assert action["categories"] == ["fraud"] and action["reason"]
    (appeal,) = action["appeals"]
    assert appeal["message"] == ALICE_TEXTS[6] and appeal["state"] == "open"


def test_the_export_is_json_and_holds_nothing_of_another_user(record, admin_user):
    document = subject_export(subject=record.subject, actor=admin_user, via="app")
    text = json.dumps(document, ensure_ascii=False)
    assert json.loads(text) == document
    for other in BOB_TEXTS:
        assert other not in text
    assert record.other.user_id_hash not in text
    # Nor the raw id: only the hash was ever stored.
    assert USER_ID not in text


def test_the_export_is_audited_with_its_actor(record, admin_user):
    subject_export(subject=record.subject, actor=admin_user, via="app")
    event = AuditEvent.objects.get(action=AuditAction.SUBJECT_EXPORT)
    assert event.actor == admin_user and event.subject == record.subject
    assert event.detail == {"via": "app", "items": 2}


def test_the_export_of_an_erased_subject_says_so(record, admin_user):
    subject_erase(subject=record.subject, actor=admin_user, via="app")
    document = subject_export(subject=record.subject, actor=admin_user, via="app")
    for item in document["items"]:
        assert item["prompt"] == "" and item["response"] == "" and item["metadata"] == {}
        assert item["content_erased_at"] is not None
        assert item["signals"] and item["decisions"]
    text = json.dumps(document)
    assert not any(t in text for t in ALICE_TEXTS)


# --- Erasure -------------------------------------------------------------------------------------


def test_erasure_removes_the_text_of_every_item(record, admin_user):
    counts = subject_erase(subject=record.subject, actor=admin_user, via="app")
    assert counts["items"] == 2
    for item in FlaggedItem.objects.filter(subject=record.subject):
        assert (item.prompt, item.response, item.metadata) == ("", "", {})
        assert item.content_erased_at is not None


def test_erasure_removes_reviewers_notes_and_appeal_messages(record, admin_user):
    counts = subject_erase(subject=record.subject, actor=admin_user, via="app")
    assert counts["notes"] == 2 and counts["appeals"] == 1
    assert not Decision.objects.filter(item__subject=record.subject).exclude(note="").exists()
    appeal = Appeal.objects.get(action=record.warn)
    assert appeal.message == "" and appeal.state == "open"


def test_erasure_keeps_counts_decisions_categories_signals_and_actions(record, admin_user):
    alice = record.subject

    def kept() -> tuple[object, ...]:
        subject = Subject.objects.get(pk=alice.pk)
        return (
            (subject.status, subject.violations, subject.reviewed, subject.updated_at),
            list(
                Decision.objects.filter(item__subject=alice)
                .order_by("pk")
                .values_list("pk", "verdict", "reviewer", "decided_at", "categories__slug")
            ),
            list(
                Signal.objects.filter(item__subject=alice)
                .order_by("pk")
                .values_list("classifier", "category__slug", "score")
            ),
            list(
                EnforcementAction.objects.filter(subject=alice).values_list(
                    "pk", "kind", "state", "reason", "categories", "violations", "reviewed"
                )
            ),
            list(
                FlaggedItem.objects.filter(subject=alice)
                .order_by("pk")
                .values_list("request_id", "state", "decided_at", "queue")
            ),
        )

    before = kept()
    subject_erase(subject=alice, actor=admin_user, via="app")
    assert kept() == before


def test_erasure_leaves_other_users_alone(record, admin_user):
    subject_erase(subject=record.subject, actor=admin_user, via="app")
    bobs = FlaggedItem.objects.get(subject=record.other)
    assert bobs.prompt == BOB_TEXTS[0] and bobs.content_erased_at is None
    entries = InboundBatch.objects.get(pk=record.pending.pk).payload
    assert [e["prompt"] for e in entries if e["request_id"] == "bob-req-2"] == [BOB_TEXTS[1]]


def test_erasure_reaches_items_still_waiting_in_batches(record, admin_user):
    counts = subject_erase(subject=record.subject, actor=admin_user, via="app")
    assert counts["pending_items"] == 2  # one in the pending batch, one in the failed one
    for batch in InboundBatch.objects.filter(pk__in=[record.pending.pk, record.failed.pk]):
        for entry in batch.payload:
            if entry["user_id_hash"] == record.subject.user_id_hash:
                assert entry["prompt"] == entry["response"] == "" and entry["metadata"] == {}
                assert entry["erased"] is True

    # When the pending batch is processed, its item arrives erased and is still counted.
    assert batch_process(batch_id=str(record.pending.pk)) is not None
    arrived = FlaggedItem.objects.get(request_id="alice-req-3")
    assert arrived.prompt == "" and arrived.response == "" and arrived.metadata == {}
    assert arrived.content_erased_at is not None and arrived.subject == record.subject
    assert arrived.signals.count() == 1
    assert FlaggedItem.objects.get(request_id="bob-req-2").prompt == BOB_TEXTS[1]
    assert InboundBatch.objects.get(pk=record.pending.pk).status == BatchStatus.PROCESSED


def test_erasure_is_audited_with_its_counts(record, admin_user):
    subject_erase(subject=record.subject, actor=admin_user, via="app")
    event = AuditEvent.objects.get(action=AuditAction.SUBJECT_ERASE)
    assert event.actor == admin_user and event.subject == record.subject
    assert event.detail == {
        "via": "app",
        "items": 2,
        "unreviewed": 0,
        "notes": 2,
        "appeals": 1,
        "pending_items": 2,
    }


def test_a_second_erasure_finds_nothing_left(record, admin_user):
    subject_erase(subject=record.subject, actor=admin_user, via="app")
    again = subject_erase(subject=record.subject, actor=None, via="command line")
    assert again == {
        "items": 0,
        "unreviewed": 0,
        "notes": 0,
        "appeals": 0,
        "pending_items": 0,
    }
    assert AuditEvent.objects.filter(action=AuditAction.SUBJECT_ERASE).count() == 2


# --- Items nobody decided yet ------------------------------------------------------------------


@pytest.fixture
def waiting(record, reviewer, senior) -> dict[str, FlaggedItem]:
    """Alice's items not yet decided: one pending, one claimed by Rita, one escalated; Bob's
    pending item beside them."""
    pending = FlaggedItemFactory(subject=record.subject, prompt="ALICE-WAITING pending")
    claimed = FlaggedItemFactory(subject=record.subject, prompt="ALICE-WAITING claimed")
    escalated = FlaggedItemFactory(subject=record.subject, prompt="ALICE-WAITING escalated")
    for item in (pending, claimed, escalated):
        SignalFactory(item=item)
    claims.claim_hand(item=claimed, user=reviewer)
    decide(escalated, Verdict.ESCALATE, reviewer=reviewer, note="unsure")
    bobs = FlaggedItemFactory(subject=record.other, prompt="BOB-WAITING")
    return {"pending": pending, "claimed": claimed, "escalated": escalated, "bob": bobs}


def test_erasure_takes_the_users_waiting_items_out_of_the_queues_for_good(
    record, waiting, admin_user, reviewer, senior
):
    counts = subject_erase(subject=record.subject, actor=admin_user, via="app")
    assert counts["unreviewed"] == 3
    for name in ("pending", "claimed", "escalated"):
        item = FlaggedItem.objects.get(pk=waiting[name].pk)
        assert item.state == ItemState.ERASED, name
        assert (item.claimed_by, item.claimed_at, item.lease_expires_at) == (None, None, None)
        assert item.decided_at is None and item.content_erased_at is not None
    # Out of every count and every claim: only Bob's two items are left to review.
    assert sum(q["pending"] for q in selectors.queue_summaries()) == 2
    assert {i.subject_id for i in selectors.pending_items()} == {record.other.pk}
    assert claims.claim_held(user=reviewer) is None
    claimed = [claims.claim_next(user=senior), claims.claim_next(user=reviewer)]
    assert {i.subject_id for i in claimed} == {record.other.pk}
    assert claims.claim_next(user=admin_user) is None
    # The decided items keep their state; the figures are those of before.
    assert set(
        FlaggedItem.objects.filter(pk__in=[i.pk for i in record.items]).values_list(
            "state", flat=True
        )
    ) == {ItemState.DECIDED}
    event = AuditEvent.objects.get(action=AuditAction.SUBJECT_ERASE)
    assert event.detail["unreviewed"] == 3


def test_an_erased_item_cannot_be_decided_by_the_reviewer_who_held_it(
    record, waiting, admin_user, reviewer
):
    subject_erase(subject=record.subject, actor=admin_user, via="app")
    item = FlaggedItem.objects.get(pk=waiting["claimed"].pk)
    with pytest.raises(ClaimConflict):
        decision_record(
            item=item, reviewer=reviewer, verdict=Verdict.NO_VIOLATION, categories=[], note=""
        )
    assert not item.decisions.exists()
    assert FlaggedItem.objects.get(pk=item.pk).state == ItemState.ERASED


def test_an_item_still_in_a_batch_arrives_erased_and_out_of_the_queues(record, admin_user):
    subject_erase(subject=record.subject, actor=admin_user, via="app")
    batch_process(batch_id=str(record.pending.pk))
    arrived = FlaggedItem.objects.get(request_id="alice-req-3")
    assert arrived.state == ItemState.ERASED
    assert FlaggedItem.objects.get(request_id="bob-req-2").state == ItemState.PENDING


def test_retention_still_erases_only_decided_items(record, waiting, admin_user):
    from moderation.services.retention import retention_erase

    subject_erase(subject=record.subject, actor=admin_user, via="app")
    bob = FlaggedItem.objects.get(pk=waiting["bob"].pk)
    assert retention_erase(now=timezone.now() + timedelta(days=3650)) == 0
    bob.refresh_from_db()
    assert bob.prompt == "BOB-WAITING" and bob.state == ItemState.PENDING
