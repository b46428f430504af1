"""Every taken action (CONTRACT §5): audited, and delivered to the organization's endpoint with
the contract's payload and the figures of that moment; proposals and rejections are not."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from moderation.models import (
    ActionKind,
    ActionState,
    AuditAction,
    AuditEvent,
    Delivery,
    DeliveryStatus,
    EnforcementAction,
    SubjectStatus,
    Verdict,
)
from moderation.services.enforcement import action_by_hand, removal_approve, removal_reject
from tests.factories import decide, proposal_of, reach_proposal, status_of

pytestmark = pytest.mark.django_db

V, N = Verdict.VIOLATION, Verdict.NO_VIOLATION

DATA_KEYS = {
    "action_id": str,
    "action": str,
    "organization": str,
    "user_id_hash": str,
    "reason": str,
    "categories": list,
    "violations": int,
    "reviewed": int,
    "violation_rate": float,
    "decided_by": str,
    "effective_at": str,
}

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def assert_contract_payload(delivery: Delivery, action: EnforcementAction) -> None:
    """The body of CONTRACT §5, exactly: its keys, their types and values."""
    delivery.refresh_from_db()  # as stored, so as it will be sent
    payload = delivery.payload
    assert set(payload) == {"type", "timestamp", "data"}
    assert payload["type"] == "enforcement.action"
    data = payload["data"]
    assert set(data) == set(DATA_KEYS)
    for key, kind in DATA_KEYS.items():
        assert type(data[key]) is kind, (key, data[key])
    assert all(isinstance(c, str) for c in data["categories"])
    assert ISO_Z.match(payload["timestamp"]) and ISO_Z.match(data["effective_at"])
    effective = datetime.fromisoformat(data["effective_at"].replace("Z", "+00:00"))
    assert abs(effective - action.effective_at) < timedelta(seconds=1)
    subject = action.subject
    assert data == {
        "action_id": str(action.pk),
        "action": action.kind,
        "organization": subject.organization.slug,
        "user_id_hash": subject.user_id_hash,
        "reason": action.reason,
        "categories": action.categories,
        "violations": action.violations,
        "reviewed": action.reviewed,
        "violation_rate": pytest.approx(action.violation_rate, abs=1e-4),
        "decided_by": action.decided_by,
        "effective_at": payload["timestamp"],
    }
    assert re.fullmatch(r"msg_[0-9a-f]{32}", delivery.webhook_id)
    assert delivery.webhook_id == f"msg_{action.pk.hex}"


def test_every_taken_action_is_audited_and_delivered(user, reviewer_decides, senior, endpoint):
    reviewer_decides(user, "VNVVVVV")  # warn, restrict, then removal proposed at 6 of 7
    removal_approve(action=proposal_of(user), user=senior)
    action_by_hand(subject=user, kind=ActionKind.REINSTATE, user=senior, reason="appeal by mail")
    taken = list(user.actions.filter(state=ActionState.TAKEN).order_by("created_at"))
    assert [a.kind for a in taken] == ["warn", "restrict", "remove", "reinstate"]
    for action in taken:
        event = AuditEvent.objects.get(
            action=AuditAction.ENFORCEMENT_TAKEN, detail__action=str(action.pk)
        )
        assert event.subject == user
        assert event.detail == {
            "action": str(action.pk),
            "kind": action.kind,
            "decided_by": action.decided_by,
        }
        delivery = Delivery.objects.get(action=action)
        assert delivery.url == endpoint and delivery.organization == user.organization
        assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 0
        assert delivery.next_attempt_at <= timezone.now()
        assert_contract_payload(delivery, action)
    assert Delivery.objects.count() == 4


def test_the_delivered_figures_are_those_at_the_moment_of_the_action(
    user, reviewer_decides, endpoint
):
    reviewer_decides(user, "NVNVNV")  # 2 of 5, then 3 of 6: restrict at 0.5
    restrict = user.actions.get(kind=ActionKind.RESTRICT)
    data = restrict.delivery.payload["data"]
    assert (data["violations"], data["reviewed"], data["violation_rate"]) == (3, 6, 0.5)
    assert data["action"] == "restrict" and data["decided_by"] == "threshold"
    assert data["categories"] == ["violence"]


def test_a_proposal_or_a_rejection_is_not_delivered(user, reviewer, senior, endpoint):
    proposal = reach_proposal(user, reviewer)
    removal_reject(action=proposal, user=senior)
    assert not Delivery.objects.filter(action=proposal).exists()
    assert Delivery.objects.count() == 2  # warn and restrict


def test_an_organization_without_an_endpoint_gets_no_delivery(user, reviewer):
    decide(user, V, reviewer=reviewer)
    assert status_of(user) == SubjectStatus.WARNED
    assert not Delivery.objects.exists()
    assert AuditEvent.objects.filter(action=AuditAction.ENFORCEMENT_TAKEN).count() == 1
