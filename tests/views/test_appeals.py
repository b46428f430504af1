"""/appeals/: a senior or admin who had no part in the action upholds (reinstating the user)
or denies (with a reason) an open appeal; reviewers do not get in."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.roles import Role
from moderation.models import (
    ActionKind,
    ActionState,
    Appeal,
    AppealState,
    AuditAction,
    AuditEvent,
    Delivery,
    EnforcementAction,
    SubjectStatus,
)
from moderation.services import appeals, enforcement
from moderation.services.organizations import enforcement_endpoint_set
from tests.factories import SubjectFactory, UserFactory

pytestmark = pytest.mark.django_db

UPHOLD = ">Uphold</button>"
DENY = ">Deny</button>"


def appeal_of(action: EnforcementAction, message: str = "I was quoting a novel.") -> Appeal:
    subject = action.subject
    return appeals.appeal_create(
        organization=subject.organization,
        user_id_hash=subject.user_id_hash,
        action_id=str(action.pk),
        message=message,
    )


def decide_url(appeal: Appeal) -> str:
    return f"/appeals/{appeal.pk}/decide/"


@pytest.fixture
def restricted(acme: Any, reviewer_decides: Any) -> EnforcementAction:
    """Three violations of three: restricted automatically, by no one."""
    subject = reviewer_decides(SubjectFactory(organization=acme), "VVV", "fraud")
    assert subject.status == SubjectStatus.RESTRICTED
    return subject.actions.get(kind=ActionKind.RESTRICT)


@pytest.fixture
def appeal(restricted: EnforcementAction) -> Appeal:
    return appeal_of(restricted)


@pytest.fixture
def other_senior(db: None) -> Any:
    return UserFactory(username="sue", role=Role.SENIOR)


def test_it_sends_signed_out_visitors_to_log_in(client, appeal):
    response = client.get("/appeals/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/appeals/"
    assert client.post(decide_url(appeal), {"decision": "uphold"}).status_code == 302
    appeal.refresh_from_db()
    assert appeal.state == AppealState.OPEN


def test_it_refuses_reviewers(client, reviewer, appeal):
    client.force_login(reviewer)
    assert client.get("/appeals/").status_code == 403
    assert client.post(decide_url(appeal), {"decision": "uphold"}).status_code == 403
    appeal.refresh_from_db()
    assert appeal.state == AppealState.OPEN
    assert appeal.action.subject.status == SubjectStatus.RESTRICTED


@pytest.mark.parametrize("who", ["senior", "admin_user"])
def test_it_lists_open_appeals_with_their_buttons(client, request, who, appeal):
    client.force_login(request.getfixturevalue(who))
    response = client.get("/appeals/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "I was quoting a novel." in page
    assert appeal.action.subject.user_id_hash[:12] in page
    assert "decided by threshold" in page
    assert UPHOLD in page and DENY in page
    assert 'label for="reason-' in page


def test_uphold_reinstates_the_user_and_tells_the_platform(client, senior, acme, appeal):
    enforcement_endpoint_set(organization=acme, url="https://platform.example/enforcement")
    client.force_login(senior)
    response = client.post(
        decide_url(appeal), {"decision": "uphold", "reason": "fiction, not a plan"}, follow=True
    )
    assert response.redirect_chain == [("/appeals/", 302)]
    page = response.content.decode()
    assert "Appeal upheld: the user is reinstated and the platform told." in page
    assert "No open appeals." in page and "Recently decided" in page and "Upheld" in page

    appeal.refresh_from_db()
    assert appeal.state == AppealState.UPHELD
    assert (appeal.decided_by, appeal.reason) == (senior, "fiction, not a plan")
    assert appeal.decided_at is not None
    subject = appeal.action.subject
    subject.refresh_from_db()
    assert subject.status == SubjectStatus.ACTIVE
    reinstate = subject.actions.get(kind=ActionKind.REINSTATE)
    assert (reinstate.state, reinstate.decided_by, reinstate.actor) == (
        ActionState.TAKEN,
        "appeal",
        senior,
    )
    assert reinstate.reason == "Appeal upheld: fiction, not a plan"
    assert Delivery.objects.get(action=reinstate).payload["data"]["action"] == "reinstate"
    assert AuditEvent.objects.filter(
        action=AuditAction.APPEAL_DECIDE, actor=senior, detail__state="upheld"
    ).exists()


def test_deny_records_the_reason_and_keeps_the_action(client, admin_user, appeal):
    client.force_login(admin_user)
    response = client.post(
        decide_url(appeal), {"decision": "deny", "reason": "step-by-step instructions"}, follow=True
    )
    page = response.content.decode()
    assert "Appeal denied; the reason is recorded." in page
    assert "step-by-step instructions" in page and "Denied" in page
    appeal.refresh_from_db()
    assert appeal.state == AppealState.DENIED
    assert (appeal.decided_by, appeal.reason) == (admin_user, "step-by-step instructions")
    subject = appeal.action.subject
    subject.refresh_from_db()
    assert subject.status == SubjectStatus.RESTRICTED
    assert not subject.actions.filter(kind=ActionKind.REINSTATE).exists()


def test_deny_without_a_reason_is_refused(client, senior, appeal):
    client.force_login(senior)
    response = client.post(decide_url(appeal), {"decision": "deny", "reason": "  "}, follow=True)
    page = response.content.decode()
    assert "Give the reason the appeal is denied." in page
    assert UPHOLD in page  # still open, still decidable
    appeal.refresh_from_db()
    assert (appeal.state, appeal.decided_by) == (AppealState.OPEN, None)
    assert not AuditEvent.objects.filter(action=AuditAction.APPEAL_DECIDE).exists()


def test_the_senior_who_took_the_action_does_not_decide_its_appeal(
    client, senior, admin_user, acme
):
    action = enforcement.action_by_hand(
        subject=SubjectFactory(organization=acme),
        kind=ActionKind.RESTRICT,
        user=senior,
        reason="spam wave",
    )
    appeal = appeal_of(action)
    client.force_login(senior)
    page = client.get("/appeals/").content.decode()
    assert "I was quoting a novel." in page
    assert "You took or approved this action" in page
    assert UPHOLD not in page and DENY not in page
    response = client.post(decide_url(appeal), {"decision": "uphold", "reason": "x"}, follow=True)
    assert (
        "Appeals are decided by a senior or admin who neither took nor approved the action."
        in response.content.decode()
    )
    appeal.refresh_from_db()
    action.subject.refresh_from_db()
    assert appeal.state == AppealState.OPEN
    assert action.subject.status == SubjectStatus.RESTRICTED

    # Someone else may.
    client.force_login(admin_user)
    page = client.get("/appeals/").content.decode()
    assert UPHOLD in page and DENY in page


def test_the_senior_who_approved_a_removal_does_not_decide_its_appeal(
    client, senior, other_senior, acme, reviewer_decides
):
    subject = reviewer_decides(SubjectFactory(organization=acme), "V", "weapons")
    proposal = subject.actions.get(state=ActionState.PROPOSED)
    removal = enforcement.removal_approve(action=proposal, user=senior)
    appeal = appeal_of(removal, message="It was a history essay.")

    client.force_login(senior)
    assert UPHOLD not in client.get("/appeals/").content.decode()
    client.post(decide_url(appeal), {"decision": "deny", "reason": "no"})
    appeal.refresh_from_db()
    assert appeal.state == AppealState.OPEN

    client.force_login(other_senior)
    page = client.get("/appeals/").content.decode()
    assert "approved by sam" in page and UPHOLD in page
    client.post(decide_url(appeal), {"decision": "uphold"})
    appeal.refresh_from_db()
    subject.refresh_from_db()
    assert (appeal.state, appeal.decided_by) == (AppealState.UPHELD, other_senior)
    assert subject.status == SubjectStatus.ACTIVE


def test_a_decided_appeal_is_not_decided_again(client, senior, admin_user, appeal):
    client.force_login(admin_user)
    client.post(decide_url(appeal), {"decision": "uphold"})
    client.force_login(senior)
    response = client.post(decide_url(appeal), {"decision": "deny", "reason": "no"}, follow=True)
    assert "This appeal has already been decided." in response.content.decode()
    appeal.refresh_from_db()
    assert (appeal.state, appeal.decided_by) == (AppealState.UPHELD, admin_user)


def test_it_asks_for_uphold_or_deny(client, senior, appeal):
    client.force_login(senior)
    response = client.post(decide_url(appeal), {"decision": "reconsider"}, follow=True)
    assert "Choose Uphold or Deny." in response.content.decode()
    appeal.refresh_from_db()
    assert appeal.state == AppealState.OPEN


def test_deciding_is_post_only(client, senior, appeal):
    client.force_login(senior)
    assert client.get(decide_url(appeal)).status_code == 405


# --- Personal data in appeal messages ----------------------------------------------------

PII_MESSAGE = "It was a joke. Write to me at jane.doe@example.com or call +44 20 7946 0958."


def test_personal_data_in_an_appeal_message_is_masked(client, senior, restricted):
    appeal_of(restricted, PII_MESSAGE)
    client.force_login(senior)
    page = client.get("/appeals/").content.decode()
    assert "jane.doe@example.com" not in page and "7946" not in page
    assert '<span class="pii" title="hidden email">[email]</span>' in page
    assert "It was a joke." in page
    assert ">Reveal</button>" in page


def test_a_senior_reveals_it_with_a_reason_and_the_reveal_is_logged(client, senior, restricted):
    appeal = appeal_of(restricted, PII_MESSAGE)
    client.force_login(senior)
    url = f"/appeals/{appeal.pk}/reveal-personal-data/"
    response = client.post(url, {"reason": "  "}, follow=True)
    page = response.content.decode()
    assert "Say why you need to see the personal data." in page
    assert "jane.doe@example.com" not in page
    assert not AuditEvent.objects.filter(action=AuditAction.PII_REVEAL).exists()

    response = client.post(url, {"reason": "Is the address the account's own?"}, follow=True)
    page = response.content.decode()
    assert "jane.doe@example.com" in page and "+44 20 7946 0958" in page
    assert ">Reveal</button>" not in page
    event = AuditEvent.objects.get(action=AuditAction.PII_REVEAL)
    assert (event.actor, event.subject) == (senior, restricted.subject)
    assert event.detail == {"appeal": str(appeal.pk), "reason": "Is the address the account's own?"}
    # Only for this person's session: another senior still sees it masked.
    other = UserFactory(username="sue", role=Role.SENIOR)
    client.force_login(other)
    assert "jane.doe@example.com" not in client.get("/appeals/").content.decode()


def test_reviewers_cannot_reveal_an_appeal(client, reviewer, restricted):
    appeal = appeal_of(restricted, PII_MESSAGE)
    client.force_login(reviewer)
    response = client.post(f"/appeals/{appeal.pk}/reveal-personal-data/", {"reason": "curious"})
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action=AuditAction.PII_REVEAL).exists()
