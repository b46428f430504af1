"""Deciding appeals (CONTRACT §4b): by a senior or admin with no part in the action; upheld
reinstates the user and tells the platform, denied keeps the status and says why."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

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
    Subject,
    SubjectStatus,
    Verdict,
)
from moderation.services import appeals as appeals_service
from moderation.services.appeals import (
    AppealOpen,
    RevealRefused,
    appeal_create,
    appeal_decide,
    appeal_may_decide,
    appeal_receive,
    appeal_reveal_pii,
)
from moderation.services.enforcement import EnforcementRefused, action_by_hand, removal_approve
from moderation.services.organizations import api_key_create, enforcement_endpoint_set
from tests.factories import SubjectFactory, UserFactory, decide

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_senior(db: None) -> Any:
    return UserFactory(username="sue", role=Role.SENIOR)


def appeal_of(action: EnforcementAction, message: str = "It was a mistake.") -> Appeal:
    subject = action.subject
    return appeal_create(
        organization=subject.organization,
        user_id_hash=subject.user_id_hash,
        action_id=str(action.pk),
        message=message,
    )


@pytest.fixture
def restricted_by_sam(user: Subject, senior: Any) -> EnforcementAction:
    """A restriction the senior "sam" took by hand."""
    return action_by_hand(subject=user, kind=ActionKind.RESTRICT, user=senior, reason="spam ring")


@pytest.fixture
def removed_with_sams_approval(user: Subject, reviewer: Any, senior: Any) -> EnforcementAction:
    for _ in range(5):
        decide(user, Verdict.VIOLATION, reviewer=reviewer)
    proposal = user.actions.get(state=ActionState.PROPOSED)
    return removal_approve(action=proposal, user=senior)


def test_the_senior_who_took_the_action_may_not_decide_its_appeal(restricted_by_sam, senior):
    appeal = appeal_of(restricted_by_sam)
    assert not appeal_may_decide(appeal, senior)
    with pytest.raises(EnforcementRefused, match="neither took nor approved"):
        appeal_decide(appeal=appeal, user=senior, upheld=True, reason="")
    appeal.refresh_from_db()
    assert appeal.state == AppealState.OPEN


def test_the_senior_who_approved_the_removal_may_not_decide_its_appeal(
    removed_with_sams_approval, senior, admin_user
):
    appeal = appeal_of(removed_with_sams_approval)
    with pytest.raises(EnforcementRefused):
        appeal_decide(appeal=appeal, user=senior, upheld=False, reason="no")
    assert appeal_may_decide(appeal, admin_user)


def test_a_reviewer_may_not_decide_an_appeal(user, reviewer):
    decide(user, Verdict.VIOLATION, reviewer=reviewer)
    appeal = appeal_of(user.actions.get())
    assert not appeal_may_decide(appeal, reviewer)
    with pytest.raises(EnforcementRefused):
        appeal_decide(appeal=appeal, user=reviewer, upheld=True, reason="")


def test_another_senior_upholds_and_the_user_is_reinstated(
    user, restricted_by_sam, other_senior, acme
):
    enforcement_endpoint_set(organization=acme, url="https://platform.example/enforcement")
    appeal = appeal_of(restricted_by_sam)
    decided = appeal_decide(
        appeal=appeal, user=other_senior, upheld=True, reason=" the ring was a red team "
    )
    assert decided.state == AppealState.UPHELD and decided.decided_by == other_senior
    assert decided.decided_at is not None and decided.reason == "the ring was a red team"
    user.refresh_from_db()
    assert user.status == SubjectStatus.ACTIVE
    reinstate = user.actions.get(kind=ActionKind.REINSTATE)
    assert (reinstate.state, reinstate.decided_by) == (ActionState.TAKEN, "appeal")
    assert reinstate.actor == other_senior
    assert reinstate.reason == "Appeal upheld: the ring was a red team"
    delivery = Delivery.objects.get(action=reinstate)
    assert delivery.payload["data"]["action"] == "reinstate"
    assert delivery.payload["data"]["decided_by"] == "appeal"
    event = AuditEvent.objects.get(action=AuditAction.APPEAL_DECIDE)
    assert event.actor == other_senior and event.subject == user
    assert event.detail == {"appeal": str(appeal.pk), "state": "upheld"}


def test_an_automatic_action_may_be_decided_by_any_senior(user, reviewer, senior):
    decide(user, Verdict.VIOLATION, reviewer=reviewer)
    appeal = appeal_of(user.actions.get())
    appeal_decide(appeal=appeal, user=senior, upheld=True, reason="")
    user.refresh_from_db()
    assert user.status == SubjectStatus.ACTIVE
    reason = user.actions.get(kind=ActionKind.REINSTATE).reason
    assert reason == "Appeal upheld: the action was not warranted"


def test_an_admin_upholds_an_appealed_removal(user, removed_with_sams_approval, admin_user):
    appeal_decide(
        appeal=appeal_of(removed_with_sams_approval), user=admin_user, upheld=True, reason="ok"
    )
    user.refresh_from_db()
    assert user.status == SubjectStatus.ACTIVE


def test_upholding_for_a_user_already_active_takes_no_action(
    user, restricted_by_sam, senior, other_senior
):
    appeal = appeal_of(restricted_by_sam)
    action_by_hand(subject=user, kind=ActionKind.REINSTATE, user=senior, reason="by mail")
    appeal_decide(appeal=appeal, user=other_senior, upheld=True, reason="agreed")
    assert user.actions.filter(kind=ActionKind.REINSTATE).count() == 1
    appeal.refresh_from_db()
    assert appeal.state == AppealState.UPHELD


@pytest.mark.parametrize("reason", ["", "  "])
def test_denying_needs_a_reason(user, restricted_by_sam, other_senior, reason):
    appeal = appeal_of(restricted_by_sam)
    with pytest.raises(EnforcementRefused, match="reason"):
        appeal_decide(appeal=appeal, user=other_senior, upheld=False, reason=reason)
    appeal.refresh_from_db()
    assert appeal.state == AppealState.OPEN and appeal.decided_by is None


def test_a_denied_appeal_keeps_the_status_and_records_why(user, restricted_by_sam, other_senior):
    appeal = appeal_of(restricted_by_sam)
    appeal_decide(appeal=appeal, user=other_senior, upheld=False, reason="Clear spam.")
    appeal.refresh_from_db()
    assert appeal.state == AppealState.DENIED and appeal.reason == "Clear spam."
    assert appeal.decided_by == other_senior
    user.refresh_from_db()
    assert user.status == SubjectStatus.RESTRICTED
    assert not user.actions.filter(kind=ActionKind.REINSTATE).exists()
    event = AuditEvent.objects.get(action=AuditAction.APPEAL_DECIDE)
    assert event.detail["state"] == "denied"


def test_an_appeal_is_decided_once(user, restricted_by_sam, other_senior, admin_user):
    appeal = appeal_of(restricted_by_sam)
    appeal_decide(appeal=appeal, user=other_senior, upheld=False, reason="Clear spam.")
    with pytest.raises(EnforcementRefused, match="already been decided"):
        appeal_decide(appeal=appeal, user=admin_user, upheld=True, reason="")
    user.refresh_from_db()
    assert user.status == SubjectStatus.RESTRICTED


def test_one_appeal_of_an_action_is_open_at_a_time(restricted_by_sam, other_senior):
    first = appeal_of(restricted_by_sam)
    with pytest.raises(AppealOpen):
        appeal_of(restricted_by_sam, "again")
    appeal_decide(appeal=first, user=other_senior, upheld=False, reason="no")
    assert appeal_of(restricted_by_sam, "new evidence").state == AppealState.OPEN


def test_a_reveal_of_an_appeal_message_is_logged_with_its_reason(restricted_by_sam, other_senior):
    appeal = appeal_of(restricted_by_sam, "Mail me at jane@example.com")
    appeal_reveal_pii(appeal=appeal, user=other_senior, reason=" Checking the address ")
    event = AuditEvent.objects.get(action=AuditAction.PII_REVEAL)
    assert (event.actor, event.subject) == (other_senior, restricted_by_sam.subject)
    assert event.detail == {"appeal": str(appeal.pk), "reason": "Checking the address"}


@pytest.mark.parametrize("who", ["reviewer", "other_senior"])
def test_a_reveal_needs_a_senior_and_a_reason(request, restricted_by_sam, who):
    appeal = appeal_of(restricted_by_sam, "Mail me at jane@example.com")
    with pytest.raises(RevealRefused):
        appeal_reveal_pii(
            appeal=appeal,
            user=request.getfixturevalue(who),
            reason="curious" if who == "reviewer" else "  ",
        )
    assert not AuditEvent.objects.filter(action=AuditAction.PII_REVEAL).exists()


# --- a signed message delivered again (CONTRACT §4b v2) ---------------------------------------


def receive(action: EnforcementAction, api_key: Any, webhook_id: str) -> tuple[Appeal, bool]:
    subject = action.subject
    return appeal_receive(
        api_key=api_key,
        webhook_id=webhook_id,
        organization=subject.organization,
        user_id_hash=subject.user_id_hash,
        action_id=str(action.pk),
        message="It was a mistake.",
    )


@pytest.fixture
def api_key(acme: Any) -> Any:
    return api_key_create(name="acme classifier", organization_slug="acme")[0]


def test_a_message_delivered_again_answers_with_the_appeal_it_opened(
    restricted_by_sam, api_key, other_senior
):
    first, created = receive(restricted_by_sam, api_key, "msg_1")
    assert created and first.api_key == api_key and first.webhook_id == "msg_1"
    assert receive(restricted_by_sam, api_key, "msg_1") == (first, False)
    appeal_decide(appeal=first, user=other_senior, upheld=False, reason="It was not.")
    assert receive(restricted_by_sam, api_key, "msg_1") == (first, False)
    assert Appeal.objects.count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.APPEAL_RECEIVED).count() == 1
    # Another message about the same action is a new appeal once the first is decided.
    second, created = receive(restricted_by_sam, api_key, "msg_2")
    assert created and second != first


def test_a_delivery_that_loses_the_race_answers_with_the_winners_appeal(
    restricted_by_sam, api_key, monkeypatch
):
    """Two deliveries of one message at once: both look for it before either has stored it;
    the unique (api_key, webhook_id) refuses the second insert, which answers with the first."""
    winner, _ = receive(restricted_by_sam, api_key, "msg_1")
    real = appeals_service._appeal_delivered
    looked: list[bool] = []

    def not_yet_committed(**kwargs: Any) -> Appeal | None:
        looked.append(True)
        return None if len(looked) == 1 else real(**kwargs)

    monkeypatch.setattr(appeals_service, "_appeal_delivered", not_yet_committed)
    assert receive(restricted_by_sam, api_key, "msg_1") == (winner, False)
    assert len(looked) == 2
    assert Appeal.objects.count() == 1


def test_a_decided_appeals_message_racing_again_is_still_one_appeal(
    restricted_by_sam, api_key, other_senior, monkeypatch
):
    """Only the webhook-id's unique constraint can refuse this insert: the first appeal is
    decided, so one-open-per-action does not."""
    winner, _ = receive(restricted_by_sam, api_key, "msg_1")
    appeal_decide(appeal=winner, user=other_senior, upheld=False, reason="It was not.")
    real = appeals_service._appeal_delivered
    calls = iter([None])
    monkeypatch.setattr(
        appeals_service, "_appeal_delivered", lambda **kw: next(calls, None) or real(**kw)
    )
    assert receive(restricted_by_sam, api_key, "msg_1") == (winner, False)
    assert Appeal.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_deliveries_at_once_open_one_appeal(acme, senior):
    subject = SubjectFactory(organization=acme)
    action = action_by_hand(subject=subject, kind=ActionKind.RESTRICT, user=senior, reason="spam")
    key = api_key_create(name="acme classifier", organization_slug="acme")[0]
    start = threading.Barrier(2)
    answers: list[tuple[Appeal, bool]] = []

    def deliver() -> None:
        try:
            start.wait()
            answers.append(receive(action, key, "msg_twice"))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(created for _, created in answers) == [False, True]
    assert answers[0][0] == answers[1][0]
    assert Appeal.objects.count() == 1
