"""The bulk actions' pages: "Approve selected" / "Reject selected" on /enforcement/ and
"Decide all pending" on a user's page, each asking first; seniors and admins only; bad
input gets a clear error and changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from moderation.models import (
    ActionState,
    AuditAction,
    AuditEvent,
    Decision,
    EnforcementAction,
    FlaggedItem,
    ItemState,
    SubjectStatus,
    Verdict,
)
from tests.factories import FlaggedItemFactory, SubjectFactory, category, decide, proposal_of

pytestmark = pytest.mark.django_db

BULK_URL = "/enforcement/bulk/"


def proposed(acme: Any, by: Any) -> EnforcementAction:
    subject = SubjectFactory(organization=acme)
    decide(subject, Verdict.VIOLATION, "weapons", reviewer=by)
    return proposal_of(subject)


@pytest.fixture
def three(acme: Any, reviewer: Any, senior: Any) -> list[EnforcementAction]:
    """Two proposals resting on rita's decisions and one on sam's own."""
    return [proposed(acme, reviewer), proposed(acme, senior), proposed(acme, reviewer)]


def states(actions: list[EnforcementAction]) -> list[str]:
    return [EnforcementAction.objects.get(pk=a.pk).state for a in actions]


def decide_all_url(subject: Any) -> str:
    return f"/subjects/{subject.organization.slug}/{subject.user_id_hash}/decide-all/"


@pytest.fixture
def waiting(acme: Any) -> Any:
    """A user of acme with three items waiting."""
    subject = SubjectFactory(organization=acme)
    for _ in range(3):
        FlaggedItemFactory(subject=subject)
    return subject


# --- roles ---------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["reviewer_client", "roleless_client"])
def test_it_refuses_reviewers_and_users_without_a_role(request, who, three, waiting):
    client = request.getfixturevalue(who)
    form = {"decision": "approve", "proposal": [str(a.pk) for a in three], "confirmed": "1"}
    assert client.post(BULK_URL, form).status_code == 403
    assert states(three) == [ActionState.PROPOSED] * 3
    answer = client.post(
        decide_all_url(waiting), {"verdict": "no_violation", "note": "benign", "confirmed": "1"}
    )
    assert answer.status_code == 403
    assert not Decision.objects.filter(item__subject=waiting).exists()


def test_signed_out_visitors_are_sent_to_log_in(client, three, waiting):
    response = client.post(BULK_URL, {"decision": "reject", "proposal": [str(three[0].pk)]})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    response = client.post(decide_all_url(waiting), {"verdict": "no_violation", "note": "x"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


# --- proposals -----------------------------------------------------------------------------


def test_the_enforcement_page_has_a_labelled_checkbox_per_proposal(senior_client, three):
    page = senior_client.get("/enforcement/").content.decode()
    for action in three:
        assert f'name="proposal" value="{action.pk}" form="bulk-proposals"' in page
        short = action.subject.user_id_hash[:12]
        assert f"Select the removal of user {short}… (acme)" in page
    assert ">Approve selected</button>" in page and ">Reject selected</button>" in page
    # The single buttons stay as they were (CONTRACT §8).
    assert ">Approve</button>" in page and ">Reject</button>" in page


def test_approve_selected_asks_first_and_changes_nothing(senior_client, three):
    form = {"decision": "approve", "proposal": [str(a.pk) for a in three], "note": "checked"}
    response = senior_client.post(BULK_URL, form)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Approve 3 removals?" in page and ">Confirm</button>" in page
    assert page.count("refused: four-eyes rule") == 1
    assert 'name="confirmed" value="1"' in page and 'value="checked"' in page
    assert states(three) == [ActionState.PROPOSED] * 3


def test_confirming_approves_the_others_and_reports_the_one_refused(senior_client, three):
    form = {
        "decision": "approve",
        "proposal": [str(a.pk) for a in three],
        "note": "checked",
        "confirmed": "1",
    }
    response = senior_client.post(BULK_URL, form, follow=True)
    page = response.content.decode()
    assert states(three) == [ActionState.TAKEN, ActionState.PROPOSED, ActionState.TAKEN]
    own_item = three[1].basis.get().item_id
    short = three[1].subject.user_id_hash[:12]
    assert "2 approved: " in page
    assert (
        f"1 refused: user {short}… (acme): you decided #{own_item} behind it: four-eyes rule."
        in page
    )
    taken = AuditEvent.objects.filter(action=AuditAction.ENFORCEMENT_TAKEN, actor__username="sam")
    assert taken.count() == 2


def test_reject_selected_rejects_each_and_reports_the_stale_one(senior_client, admin_user, three):
    from moderation.services import enforcement

    enforcement.removal_approve(action=three[0], user=admin_user)
    form = {
        "decision": "reject",
        "proposal": [str(a.pk) for a in three],
        "note": "fiction",
        "confirmed": "1",
    }
    page = senior_client.post(BULK_URL, form, follow=True).content.decode()
    assert states(three) == [ActionState.TAKEN, ActionState.REJECTED, ActionState.REJECTED]
    assert "2 rejected: " in page
    assert "1 no longer waiting, left as is: " in page and "already approved by ada" in page
    three[0].subject.refresh_from_db()
    assert three[0].subject.status == SubjectStatus.REMOVED


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"decision": "approve", "confirmed": "1"}, "Select at least one proposed removal."),
        (
            {"decision": "approve", "proposal": [str(uuid.uuid4())], "confirmed": "1"},
            "Some of the selected proposals do not exist; nothing was changed.",
        ),
        (
            {"decision": "approve", "proposal": ["not-an-id"], "confirmed": "1"},
            "Some of the selected proposals do not exist; nothing was changed.",
        ),
        ({"decision": "maybe", "confirmed": "1"}, "Choose Approve selected or Reject selected."),
    ],
)
def test_bad_selections_get_a_clear_error_and_change_nothing(senior_client, three, form, error):
    if form.get("proposal") and form["proposal"][0] != "not-an-id":
        form = {**form, "proposal": [*form["proposal"], str(three[0].pk)]}
    response = senior_client.post(BULK_URL, form)
    assert response.status_code == 422
    assert error in response.content.decode()
    assert states(three) == [ActionState.PROPOSED] * 3


# --- decide all pending --------------------------------------------------------------------


def test_the_subject_page_offers_decide_all_to_seniors_only(client, reviewer, senior, waiting):
    url = f"/subjects/acme/{waiting.user_id_hash}/"
    client.force_login(reviewer)
    assert "Decide all pending" not in client.get(url).content.decode()
    client.force_login(senior)
    page = client.get(url).content.decode()
    assert "Decide all pending" in page and "3 items of this user wait" in page


def test_decide_all_asks_first_with_the_count(senior_client, waiting):
    form = {"verdict": "violation", "categories": [str(category("fraud").pk)], "note": "scam"}
    response = senior_client.post(decide_all_url(waiting), form)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Decide 3 items?" in page and ">Confirm</button>" in page
    # The Confirm form carries what was chosen, and says it is the confirmation.
    assert 'name="confirmed" value="1"' in page
    assert 'name="verdict" value="violation"' in page
    assert f'name="categories" value="{category("fraud").pk}"' in page
    assert not Decision.objects.filter(item__subject=waiting).exists()


def test_confirming_decides_each_item_on_its_own(senior_client, senior, reviewer, waiting):
    held = FlaggedItemFactory(
        subject=waiting, state=ItemState.CLAIMED, claimed_by=reviewer, claimed_at=None
    )
    form = {"verdict": "no_violation", "note": "Fiction writing.", "confirmed": "1"}
    page = senior_client.post(decide_all_url(waiting), form, follow=True).content.decode()
    assert "3 items decided as No violation, each its own decision." in page
    assert f"1 left as they were: #{held.pk}: held by rita." in page
    decisions = Decision.objects.filter(item__subject=waiting)
    assert decisions.count() == 3 and {d.reviewer for d in decisions} == {senior}
    assert AuditEvent.objects.filter(action=AuditAction.ITEM_DECIDE, actor=senior).count() == 3
    waiting.refresh_from_db()
    assert (waiting.reviewed, waiting.violations) == (3, 0)
    held.refresh_from_db()
    assert held.state == ItemState.CLAIMED


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"verdict": "no_violation", "note": "  "}, "Say in the note why"),
        ({"verdict": "violation", "note": "scam"}, "Choose at least one policy category"),
        ({"note": "scam"}, "Choose Violation or No violation."),
        ({"verdict": "escalate", "note": "scam"}, "Choose Violation or No violation."),
        (
            {"verdict": "violation", "note": "scam", "categories": ["99999"]},
            "Choose policy categories from the list.",
        ),
    ],
)
def test_bad_decide_all_input_gets_a_clear_error_and_decides_nothing(
    senior_client, waiting, form, error
):
    response = senior_client.post(decide_all_url(waiting), {**form, "confirmed": "1"})
    assert response.status_code == 422
    assert error in response.content.decode()
    assert not Decision.objects.filter(item__subject=waiting).exists()
    assert FlaggedItem.objects.filter(subject=waiting, state=ItemState.PENDING).count() == 3
