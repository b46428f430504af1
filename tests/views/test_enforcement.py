"""/enforcement/: seniors and admins approve or reject proposed removals; deliveries and their
attempts are listed, and only admins redeliver by hand."""

from __future__ import annotations

from typing import Any

import pytest

from moderation.models import (
    ActionKind,
    ActionState,
    AuditAction,
    AuditEvent,
    Delivery,
    DeliveryStatus,
    EnforcementAction,
    SubjectStatus,
)
from moderation.services import deliveries, enforcement
from moderation.services.organizations import enforcement_endpoint_set
from tests.factories import SubjectFactory
from tests.processes import free_port
from tests.webhooks import Receiver, receiving

pytestmark = pytest.mark.django_db

PLATFORM_URL = "https://platform.example/enforcement"


@pytest.fixture
def proposal(acme: Any, decide: Any) -> EnforcementAction:
    """One violation in a critical category: warned at once, and removal proposed."""
    subject = decide(SubjectFactory(organization=acme), violations=1, category="weapons")
    assert subject.status == SubjectStatus.WARNED
    return subject.actions.get(state=ActionState.PROPOSED)


def decide_url(action: EnforcementAction) -> str:
    return f"/enforcement/{action.pk}/decide/"


def test_it_sends_signed_out_visitors_to_log_in(client, proposal):
    response = client.get("/enforcement/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/enforcement/"
    response = client.post(decide_url(proposal), {"decision": "approve"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    proposal.refresh_from_db()
    assert proposal.state == ActionState.PROPOSED


def test_it_refuses_reviewers(client, reviewer, proposal):
    client.force_login(reviewer)
    assert client.get("/enforcement/").status_code == 403
    assert client.post(decide_url(proposal), {"decision": "approve"}).status_code == 403
    proposal.refresh_from_db()
    assert proposal.state == ActionState.PROPOSED
    assert proposal.subject.status == SubjectStatus.WARNED


@pytest.mark.parametrize("who", ["senior", "admin_user"])
def test_it_lists_the_proposed_removals(client, request, who, proposal):
    client.force_login(request.getfixturevalue(who))
    response = client.get("/enforcement/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Proposed removals" in page
    assert proposal.subject.user_id_hash[:12] in page
    assert "including a violation in a critical category" in page
    assert '<span class="tag">weapons</span>' in page
    assert ">Approve</button>" in page and ">Reject</button>" in page
    assert list(response.context["proposals"]) == [proposal]


def test_approve_removes_the_user_and_queues_the_webhook(client, senior, acme, proposal):
    enforcement_endpoint_set(organization=acme, url=PLATFORM_URL)
    client.force_login(senior)
    response = client.post(
        decide_url(proposal), {"decision": "approve", "note": "confirmed"}, follow=True
    )
    assert response.redirect_chain == [("/enforcement/", 302)]
    page = response.content.decode()
    assert "Removal approved; the platform is being told." in page
    assert "No removal is waiting." in page

    proposal.refresh_from_db()
    assert proposal.state == ActionState.TAKEN
    assert (proposal.approved_by, proposal.review_note) == (senior, "confirmed")
    assert proposal.effective_at is not None and proposal.resolved_at is not None
    assert proposal.subject.status == SubjectStatus.REMOVED
    assert AuditEvent.objects.filter(
        action=AuditAction.ENFORCEMENT_TAKEN,
        actor=senior,
        subject=proposal.subject,
        detail__action=str(proposal.pk),
    ).exists()
    delivery = Delivery.objects.get(action=proposal)
    assert delivery.status == DeliveryStatus.PENDING and delivery.url == PLATFORM_URL
    assert delivery.webhook_id == f"msg_{proposal.pk.hex}"
    assert delivery.payload["data"]["action"] == "remove"
    assert delivery.payload["data"]["user_id_hash"] == proposal.subject.user_id_hash
    # The new delivery is listed, with no attempt yet.
    assert "0 attempts" in page and "Pending" in page


def test_approve_without_an_endpoint_sends_nothing(client, admin_user, proposal):
    client.force_login(admin_user)
    client.post(decide_url(proposal), {"decision": "approve"})
    proposal.refresh_from_db()
    assert proposal.state == ActionState.TAKEN
    assert proposal.subject.status == SubjectStatus.REMOVED
    assert not Delivery.objects.exists()


def test_reject_leaves_the_user_as_they_were(client, admin_user, acme, proposal):
    enforcement_endpoint_set(organization=acme, url=PLATFORM_URL)
    client.force_login(admin_user)
    response = client.post(
        decide_url(proposal), {"decision": "reject", "note": "a quote from a thriller"}, follow=True
    )
    assert "Removal rejected." in response.content.decode()
    proposal.refresh_from_db()
    assert proposal.state == ActionState.REJECTED
    assert (proposal.approved_by, proposal.review_note) == (admin_user, "a quote from a thriller")
    assert proposal.effective_at is None
    assert proposal.subject.status == SubjectStatus.WARNED
    assert AuditEvent.objects.filter(
        action=AuditAction.ENFORCEMENT_REJECTED, actor=admin_user, subject=proposal.subject
    ).exists()
    assert not Delivery.objects.filter(action=proposal).exists()


def test_a_decided_removal_is_not_decided_again(client, senior, admin_user, proposal):
    client.force_login(senior)
    client.post(decide_url(proposal), {"decision": "approve"})
    client.force_login(admin_user)
    response = client.post(decide_url(proposal), {"decision": "reject"}, follow=True)
    assert "This removal has already been decided." in response.content.decode()
    proposal.refresh_from_db()
    assert (proposal.state, proposal.approved_by) == (ActionState.TAKEN, senior)
    assert proposal.subject.status == SubjectStatus.REMOVED


def test_it_asks_for_approve_or_reject(client, senior, proposal):
    client.force_login(senior)
    response = client.post(decide_url(proposal), {"decision": "maybe"}, follow=True)
    assert "Choose Approve or Reject." in response.content.decode()
    proposal.refresh_from_db()
    assert proposal.state == ActionState.PROPOSED


def test_deciding_is_post_only(client, senior, proposal):
    client.force_login(senior)
    assert client.get(decide_url(proposal)).status_code == 405


# --- Deliveries ------------------------------------------------------------------------


@pytest.fixture
def warned(acme: Any, senior: Any) -> EnforcementAction:
    subject = SubjectFactory(organization=acme)
    return enforcement.action_by_hand(
        subject=subject, kind=ActionKind.WARN, user=senior, reason="first strike"
    )


def redeliver_url(delivery: Delivery) -> str:
    return f"/enforcement/deliveries/{delivery.pk}/redeliver/"


def test_it_shows_each_delivery_with_its_attempts(client, senior, acme):
    enforcement_endpoint_set(organization=acme, url=f"http://127.0.0.1:{free_port()}/refused")
    subject = SubjectFactory(organization=acme)
    action = enforcement.action_by_hand(
        subject=subject, kind=ActionKind.WARN, user=senior, reason="first strike"
    )
    delivery = Delivery.objects.get(action=action)
    attempt = deliveries.delivery_attempt(delivery_id=delivery.pk)
    assert attempt is not None and attempt.status_code is None

    client.force_login(senior)
    response = client.get("/enforcement/")
    page = response.content.decode()
    assert "Deliveries to the platforms" in page
    assert '<span class="tag action-warn">Warn</span>' in page
    assert "acme" in page and "Pending" in page
    assert "1 attempt<" in page
    assert "no answer" in page and "Connection refused" in page
    assert f"{attempt.latency_ms} ms" in page
    # Seniors see the attempts but do not redeliver.
    assert ">Redeliver</button>" not in page


def test_only_admins_redeliver(client, reviewer, senior, acme, warned):
    enforcement_endpoint_set(organization=acme, url=PLATFORM_URL)
    action = enforcement.action_by_hand(
        subject=warned.subject, kind=ActionKind.RESTRICT, user=senior, reason="second strike"
    )
    delivery = Delivery.objects.get(action=action)
    for who in (reviewer, senior):
        client.force_login(who)
        assert client.post(redeliver_url(delivery)).status_code == 403
    assert not delivery.attempt_log.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.DELIVERY_REDELIVER).exists()


def test_an_admin_redelivers_by_hand(client, admin_user, senior, acme):
    with receiving(Receiver(fail_first=1, fail_status=500)) as receiver:
        receiver.secret = enforcement_endpoint_set(organization=acme, url=receiver.url)
        action = enforcement.action_by_hand(
            subject=SubjectFactory(organization=acme),
            kind=ActionKind.RESTRICT,
            user=senior,
            reason="second strike",
        )
        delivery = Delivery.objects.get(action=action)
        deliveries.delivery_attempt(delivery_id=delivery.pk)  # the scheduled one: HTTP 500

        client.force_login(admin_user)
        page = client.get("/enforcement/").content.decode()
        assert ">Redeliver</button>" in page and "HTTP 500" in page
        response = client.post(redeliver_url(delivery), follow=True)
        got = receiver.all()

    assert response.redirect_chain == [("/enforcement/", 302)]
    page = response.content.decode()
    assert "Delivered: HTTP 204 in" in page and "by hand" in page
    assert [(r.answered, r.verified) for r in got] == [(500, True), (204, True)]
    assert {r.webhook_id for r in got} == {delivery.webhook_id}
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 2
    assert [(a.status_code, a.manual) for a in delivery.attempt_log.all()] == [
        (500, False),
        (204, True),
    ]
    assert AuditEvent.objects.filter(
        action=AuditAction.DELIVERY_REDELIVER,
        actor=admin_user,
        detail={"delivery": delivery.webhook_id},
    ).exists()


def test_a_failed_redelivery_says_why(client, admin_user, acme, warned):
    enforcement_endpoint_set(organization=acme, url=f"http://127.0.0.1:{free_port()}/refused")
    action = enforcement.action_by_hand(
        subject=warned.subject, kind=ActionKind.RESTRICT, user=admin_user, reason="second strike"
    )
    delivery = Delivery.objects.get(action=action)
    client.force_login(admin_user)
    response = client.post(redeliver_url(delivery), follow=True)
    assert "Not delivered: URLError:" in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert delivery.attempt_log.get().manual is True
