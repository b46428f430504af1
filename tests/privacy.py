"""An end user with everything modqueue can hold about them, for the subject-rights tests.

Every piece of text the user (or a reviewer about them) wrote is distinctive, so a test can
look for it anywhere: in an export, in the rows, in a `pg_dump` of the whole database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from moderation import selectors
from moderation.api.schema import validate_items
from moderation.models import (
    BatchStatus,
    EnforcementAction,
    FlaggedItem,
    InboundBatch,
    Organization,
    PolicyCategory,
    Subject,
    Verdict,
)
from moderation.services.appeals import appeal_create
from moderation.services.ingest import batch_accept
from moderation.services.organizations import api_key_create
from moderation.services.subjects import subject_hash
from tests.factories import FlaggedItemFactory, SignalFactory, decide

USER_ID = "alice-77@platform.example"
OTHER_USER_ID = "bob-12@platform.example"

# Alice's words, and reviewers' words about her: none may survive her erasure.
ALICE_TEXTS = (
    "ALICE-PROMPT-ONE zebra lasagne",
    "ALICE-RESPONSE-ONE quokka",
    "ALICE-METADATA-VALUE",
    "ALICE-PROMPT-TWO marmalade",
    "ALICE-NOTE-ONE scam script",
    "ALICE-NOTE-TWO unsure escalation",
    "ALICE-APPEAL-MESSAGE I was joking",
    "ALICE-PENDING-PROMPT tangerine",
    "ALICE-PENDING-RESPONSE",
    "ALICE-FAILED-PROMPT persimmon",
)
BOB_TEXTS = ("BOB-PROMPT-KEEP walrus", "BOB-PENDING-PROMPT-KEEP")


@dataclass
class Record:
    subject: Subject
    other: Subject
    items: list[FlaggedItem]
    warn: EnforcementAction
    pending: InboundBatch
    failed: InboundBatch


def _batch(api_key: Any, *items: dict[str, Any]) -> InboundBatch:
    valid, errors = validate_items(
        {"items": list(items)},
        key_organization="acme",
        organizations=set(Organization.objects.values_list("slug", flat=True)),
        category_for_label=selectors.category_labels(),
    )
    assert not errors, errors
    batch, _ = batch_accept(api_key=api_key, webhook_id=f"msg_{uuid.uuid4().hex}", items=valid)
    return batch


def _flag(request_id: str, user_id: str, prompt: str, response: str = "") -> dict[str, Any]:
    return {
        "request_id": request_id,
        "user_id": user_id,
        "prompt": prompt,
        "response": response,
        "signals": [{"classifier": "fraud-v3", "category": "fraud", "score": 0.8}],
        "metadata": {"surface": "chat"},
    }


def record_of_alice(acme: Organization, reviewer: Any, senior: Any) -> Record:
    """Alice (of acme): two decided items, a warning, an open appeal of it, an item still in a
    pending batch and one in a failed batch. Bob, of acme too, has an item and a pending one."""
    fraud = PolicyCategory.objects.get(slug="fraud")
    alice = Subject.objects.create(
        organization=acme, user_id_hash=subject_hash(organization_slug="acme", user_id=USER_ID)
    )
    bob = Subject.objects.create(
        organization=acme,
        user_id_hash=subject_hash(organization_slug="acme", user_id=OTHER_USER_ID),
    )
    one = FlaggedItemFactory(
        subject=alice,
        request_id="alice-req-1",
        prompt=ALICE_TEXTS[0],
        response=ALICE_TEXTS[1],
        metadata={"trace": ALICE_TEXTS[2]},
        model="claude-sonnet",
    )
    SignalFactory(item=one, classifier="fraud-v3", category=fraud, score=0.88)
    decide(one, Verdict.VIOLATION, "fraud", reviewer=reviewer, note=ALICE_TEXTS[4])
    two = FlaggedItemFactory(subject=alice, request_id="alice-req-2", prompt=ALICE_TEXTS[3])
    SignalFactory(item=two, classifier="violence-v2", score=0.41)
    decide(two, Verdict.ESCALATE, reviewer=reviewer, note=ALICE_TEXTS[5])
    two.refresh_from_db()
    decide(two, Verdict.NO_VIOLATION, reviewer=senior)
    warn = EnforcementAction.objects.get(subject=alice, kind="warn")
    appeal_create(
        organization=acme,
        user_id_hash=alice.user_id_hash,
        action_id=str(warn.pk),
        message=ALICE_TEXTS[6],
    )
    bobs = FlaggedItemFactory(subject=bob, request_id="bob-req-1", prompt=BOB_TEXTS[0])
    SignalFactory(item=bobs)

    api_key, _ = api_key_create(name="acme classifier", organization_slug="acme")
    pending = _batch(
        api_key,
        _flag("alice-req-3", USER_ID, ALICE_TEXTS[7], ALICE_TEXTS[8]),
        _flag("bob-req-2", OTHER_USER_ID, BOB_TEXTS[1]),
    )
    failed = _batch(api_key, _flag("alice-req-4", USER_ID, ALICE_TEXTS[9]))
    InboundBatch.objects.filter(pk=failed.pk).update(
        status=BatchStatus.FAILED, attempts=5, last_error="OperationalError: gone"
    )
    alice.refresh_from_db()
    return Record(
        subject=alice,
        other=bob,
        items=[one, two],
        warn=warn,
        pending=pending,
        failed=failed,
    )
