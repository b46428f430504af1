"""/enforcement/, its removal proposals: seniors and admins approve (after confirming) or reject
them; nobody approves a proposal resting on an item they decided; decided, withdrawn and
rejected proposals stay in the history."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from moderation.models import (
    ActionState,
    AuditAction,
    AuditEvent,
    Delivery,
    DeliveryStatus,
    EnforcementAction,
    SubjectStatus,
)
from moderation.services import enforcement
from moderation.services.organizations import enforcement_endpoint_set
from tests.factories import SubjectFactory, decide

pytestmark = pytest.mark.django_db

PLATFORM_URL = "https://platform.example/enforcement"


@pytest.fixture
def proposal(acme: Any, reviewer_decides: Any) -> EnforcementAction:
    """One violation in a critical category: warned at once, and removal proposed."""
    subject = reviewer_decides(SubjectFactory(organization=acme), "V", "weapons")
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
        decide_url(proposal),
        {"decision": "approve", "note": "confirmed", "confirmed": "1"},
        follow=True,
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
    client.post(decide_url(proposal), {"decision": "approve", "confirmed": "1"})
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
    client.post(decide_url(proposal), {"decision": "approve", "confirmed": "1"})
    client.force_login(admin_user)
    response = client.post(decide_url(proposal), {"decision": "reject"})
    assert response.status_code == 409
    assert "This removal has already been decided." in response.content.decode()
    for confirmed in ("", "1"):
        response = client.post(
            decide_url(proposal), {"decision": "approve", "confirmed": confirmed}
        )
        assert response.status_code == 409
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


def test_approve_first_asks_for_confirmation_and_changes_nothing(client, senior, acme, proposal):
    enforcement_endpoint_set(organization=acme, url=PLATFORM_URL)
    events = AuditEvent.objects.count()
    client.force_login(senior)
    response = client.post(decide_url(proposal), {"decision": "approve", "note": "seen it"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Approve this removal?" in page
    assert "is <strong>removed</strong>" in page
    assert f"POSTed to <code>{PLATFORM_URL}</code>" in page
    assert ">Approve removal</button>" in page
    assert 'name="confirmed" value="1"' in page and 'value="seen it"' in page
    assert '<a class="button-link" href="/enforcement/">Cancel</a>' in page
    proposal.refresh_from_db()
    assert proposal.state == ActionState.PROPOSED
    assert proposal.subject.status == SubjectStatus.WARNED
    assert not Delivery.objects.filter(action=proposal).exists()
    assert AuditEvent.objects.count() == events

    client.post(decide_url(proposal), {"decision": "approve", "note": "seen it", "confirmed": "1"})
    proposal.refresh_from_db()
    assert (proposal.state, proposal.review_note) == (ActionState.TAKEN, "seen it")


def test_the_confirmation_says_when_no_webhook_goes_out(client, senior, proposal):
    client.force_login(senior)
    page = client.post(decide_url(proposal), {"decision": "approve"}).content.decode()
    assert "has no enforcement endpoint, so no webhook is sent" in page


def test_reject_needs_no_confirmation(client, senior, proposal):
    client.force_login(senior)
    client.post(decide_url(proposal), {"decision": "reject"})
    proposal.refresh_from_db()
    assert proposal.state == ActionState.REJECTED


@pytest.fixture
def decided_by_sam(acme: Any, senior: Any) -> EnforcementAction:
    """Sam (a senior) decided the critical violation the removal proposal rests on."""
    subject = SubjectFactory(organization=acme)
    decision = decide(subject, "violation", "weapons", reviewer=senior)
    proposal = subject.actions.get(state=ActionState.PROPOSED)
    assert list(proposal.basis.all()) == [decision]
    return proposal


def test_proposals_link_to_the_items_behind_them(client, admin_user, decided_by_sam):
    item_id = decided_by_sam.basis.get().item_id
    client.force_login(admin_user)
    page = client.get("/enforcement/").content.decode()
    assert f'<a href="/items/{item_id}/">item #{item_id}</a>' in page


def test_a_proposal_without_a_recorded_basis_says_so(client, admin_user, proposal):
    proposal.basis.clear()
    client.force_login(admin_user)
    page = client.get("/enforcement/").content.decode()
    assert "Not recorded (proposed before proposals kept their decisions)" in page
    subject = proposal.subject
    assert f'href="/subjects/acme/{subject.user_id_hash}/">user\'s history</a>' in page


def test_who_decided_an_item_behind_a_proposal_is_not_offered_approve(
    client, senior, admin_user, decided_by_sam
):
    item_id = decided_by_sam.basis.get().item_id
    client.force_login(senior)
    page = client.get("/enforcement/").content.decode()
    assert ">Approve</button>" not in page and ">Reject</button>" in page
    assert f'You decided <a href="/items/{item_id}/">#{item_id}</a> behind it' in page
    # Another senior or admin is offered it.
    client.force_login(admin_user)
    assert ">Approve</button>" in client.get("/enforcement/").content.decode()


@pytest.mark.parametrize("confirmed", ["", "1"])
def test_a_hand_made_approve_by_who_decided_an_item_behind_it_is_refused(
    client, senior, decided_by_sam, confirmed
):
    events = AuditEvent.objects.count()
    client.force_login(senior)
    response = client.post(
        decide_url(decided_by_sam), {"decision": "approve", "confirmed": confirmed}
    )
    assert response.status_code == 403
    page = response.content.decode()
    assert (
        '<p class="alert alert-error" role="alert">You decided an item behind this proposal' in page
    )
    decided_by_sam.refresh_from_db()
    assert decided_by_sam.state == ActionState.PROPOSED and decided_by_sam.approved_by is None
    assert decided_by_sam.subject.status == SubjectStatus.WARNED
    assert not Delivery.objects.filter(action=decided_by_sam).exists()
    assert AuditEvent.objects.count() == events


def test_who_decided_an_item_behind_a_proposal_may_still_reject_it(client, senior, decided_by_sam):
    client.force_login(senior)
    client.post(decide_url(decided_by_sam), {"decision": "reject", "note": "a quote"})
    decided_by_sam.refresh_from_db()
    assert decided_by_sam.state == ActionState.REJECTED


def test_withdrawn_proposals_show_in_the_history_with_their_reason(
    client, senior, admin_user, proposal
):
    reason = "Withdrawn: Decision 9 on item 4 was overturned by sam; no removal is called for"
    EnforcementAction.objects.filter(pk=proposal.pk).update(
        state=ActionState.WITHDRAWN, review_note=reason, resolved_at=timezone.now()
    )
    client.force_login(admin_user)
    page = client.get("/enforcement/").content.decode()
    assert "No removal is waiting." in page
    assert "Proposal history" in page
    assert '<span class="tag tag-void">Withdrawn</span>' in page and reason in page
    item_id = proposal.basis.get().item_id
    assert page.count(f'<a href="/items/{item_id}/">item #{item_id}</a>') == 1


def test_approved_and_rejected_proposals_show_in_the_history(
    client, senior, admin_user, acme, reviewer_decides, proposal
):
    other = reviewer_decides(SubjectFactory(organization=acme), "V", "weapons")
    rejected = other.actions.get(state=ActionState.PROPOSED)
    enforcement.removal_approve(action=proposal, user=senior, note="confirmed")
    enforcement.removal_reject(action=rejected, user=admin_user, note="a quote from a novel")
    client.force_login(admin_user)
    page = client.get("/enforcement/").content.decode()
    assert '<span class="tag action-remove">Approved</span><br><span class="muted">by sam' in page
    assert 'Rejected</span><br><span class="muted">by ada' in page
    assert "a quote from a novel" in page and "confirmed" in page
