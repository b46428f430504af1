"""/settings/thresholds/: admins preview, save (and apply) the thresholds, globally or per
organization; every save leaves a history row; nobody else gets in."""

from __future__ import annotations

import re
from typing import Any

import pytest

from moderation.models import (
    ActionKind,
    ActionState,
    AuditAction,
    AuditEvent,
    EnforcementAction,
    Subject,
    SubjectStatus,
    ThresholdChange,
    Thresholds,
)
from moderation.services.thresholds import Rules, thresholds_for, thresholds_save
from tests.factories import SubjectFactory

pytestmark = pytest.mark.django_db

URL = "/settings/thresholds/"
DEFAULTS = Rules().__dict__


def form(action: str = "save", scope: str = "", **changes: object) -> dict[str, str]:
    """The form as the page posts it: the defaults, with `changes`."""
    values = {**DEFAULTS, **changes}
    posted = {name: str(value) for name, value in values.items() if name != "remove_on_critical"}
    if values["remove_on_critical"]:
        posted["remove_on_critical"] = "on"
    return {**posted, "action": action, "scope": scope}


def shown_value(page: str, name: str) -> str:
    """The value the page's form shows in the field `name`."""
    found = re.search(rf'<input id="{name}" name="{name}"[^>]* value="([^"]*)"', page)
    assert found, f"no field {name}"
    return found.group(1)


def stored() -> list[tuple[object, dict[str, object]]]:
    return sorted(
        ((t.organization_id or 0, t.rules()) for t in Thresholds.objects.all()),
        key=lambda row: row[0],
    )


@pytest.fixture
def two_of_two(acme: Any, reviewer_decides: Any) -> Subject:
    """Warned: two violations of two reviewed, one short of the default restrict rule."""
    return reviewer_decides(SubjectFactory(organization=acme), "VV", "fraud")


@pytest.fixture
def two_of_five(acme: Any, reviewer_decides: Any) -> Subject:
    """Warned: two violations of five reviewed; the rate (0.4) stays under 0.5."""
    return reviewer_decides(SubjectFactory(organization=acme), "VVNNN", "fraud")


def test_it_sends_signed_out_visitors_to_log_in(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={URL}"
    assert client.post(URL, form(restrict_violations=2)).status_code == 302
    assert not ThresholdChange.objects.exists()


@pytest.mark.parametrize("who", ["reviewer", "senior"])
def test_it_is_for_admins_only(client, request, who, two_of_two):
    client.force_login(request.getfixturevalue(who))
    assert client.get(URL).status_code == 403
    assert client.post(URL, form(restrict_violations=2)).status_code == 403
    assert not ThresholdChange.objects.exists()
    assert thresholds_for(None).restrict_violations == 3
    two_of_two.refresh_from_db()
    assert two_of_two.status == SubjectStatus.WARNED


def test_it_shows_the_contract_defaults(client, admin_user):
    client.force_login(admin_user)
    response = client.get(URL)
    assert response.status_code == 200
    assert response.context["values"] == DEFAULTS
    page = response.content.decode()
    for name, value in (
        ("window_days", "30"),
        ("warn_violations", "1"),
        ("restrict_violations", "3"),
        ("restrict_rate", "0.5"),
        ("remove_violations", "5"),
        ("remove_rate", "0.8"),
    ):
        assert f'name="{name}" type="number"' in page
        assert f'id="{name}"' in page and f'value="{value}"' in page
    assert 'name="remove_on_critical" checked' in page
    assert "No changes yet" in page


def test_preview_counts_the_users_who_would_change_and_saves_nothing(
    client, admin_user, two_of_two, two_of_five
):
    before = stored()
    actions = EnforcementAction.objects.count()
    client.force_login(admin_user)
    response = client.post(URL, form("preview", restrict_violations=2))
    assert response.status_code == 200
    assert response.context["preview"] == {
        "warned": 0,
        "restricted": 1,
        "proposals": 0,
        "total": 1,
    }
    page = response.content.decode()
    assert "1 user would change status" in page
    # The previewed values stay in the form, to be saved next.
    assert shown_value(page, "restrict_violations") == "2"

    assert stored() == before
    assert not ThresholdChange.objects.exists()
    assert EnforcementAction.objects.count() == actions
    assert not AuditEvent.objects.filter(action=AuditAction.THRESHOLDS_CHANGE).exists()
    for subject in (two_of_two, two_of_five):
        subject.refresh_from_db()
        assert subject.status == SubjectStatus.WARNED


def test_save_stores_records_and_applies_the_thresholds(
    client, admin_user, two_of_two, two_of_five
):
    client.force_login(admin_user)
    response = client.post(URL, form(restrict_violations=2), follow=True)
    assert response.redirect_chain == [(URL, 302)]
    page = response.content.decode()
    assert "Thresholds saved; 1 user changed status under them." in page

    thresholds = thresholds_for(None)
    assert thresholds.rules() == {**DEFAULTS, "restrict_violations": 2}
    assert thresholds.updated_by == admin_user
    change = ThresholdChange.objects.get()
    assert change.organization is None and change.changed_by == admin_user
    assert change.before == DEFAULTS
    assert change.after == {**DEFAULTS, "restrict_violations": 2}
    assert change.subjects_changed == 1
    assert AuditEvent.objects.filter(
        action=AuditAction.THRESHOLDS_CHANGE, actor=admin_user, target="global"
    ).exists()

    # The user who crosses the stricter rule is restricted at once; the other is not.
    two_of_two.refresh_from_db()
    assert two_of_two.status == SubjectStatus.RESTRICTED
    restrict = two_of_two.actions.get(kind=ActionKind.RESTRICT)
    assert (restrict.state, restrict.decided_by) == (ActionState.TAKEN, "threshold")
    assert "restrict threshold of 2" in restrict.reason
    two_of_five.refresh_from_db()
    assert two_of_five.status == SubjectStatus.WARNED

    # The history row: when, who, for whom, what changed, how many users.
    assert "ada" in page and "global" in page
    assert "restrict_violations: 3 → 2" in page
    assert "warn_violations:" not in page


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"warn_violations": 3, "restrict_violations": 2},
            "restrict_violations",
            "Restricting takes at least as many violations as warning.",
        ),
        ({"restrict_rate": 1.5}, "restrict_rate", "A rate is a number from 0 to 1."),
        ({"remove_rate": "high"}, "remove_rate", "A number from 0 to 1."),
        ({"window_days": "a month"}, "window_days", "A whole number."),
        ({"window_days": 0}, "window_days", "The window is 1 to 365 days."),
    ],
)
@pytest.mark.parametrize("action", ["save", "preview"])
def test_invalid_values_answer_422_and_change_nothing(
    client, admin_user, two_of_two, changes, field, message, action
):
    before = stored()
    client.force_login(admin_user)
    response = client.post(URL, form(action, **changes))
    assert response.status_code == 422
    assert response.context["errors"] == {field: message}
    assert "preview" not in response.context
    page = response.content.decode()
    assert f'<p class="field-error" id="err-{field}">{message}</p>' in page
    assert f'aria-invalid="true" aria-describedby="err-{field}"' in page
    # What was typed stays in the field, to be corrected.
    assert shown_value(page, field) == str(changes[field])

    assert stored() == before
    assert not ThresholdChange.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.THRESHOLDS_CHANGE).exists()
    two_of_two.refresh_from_db()
    assert two_of_two.status == SubjectStatus.WARNED


def test_an_organization_gets_thresholds_of_its_own(
    client, admin_user, acme, globex, reviewer_decides, two_of_two
):
    other = reviewer_decides(SubjectFactory(organization=globex), "VV", "fraud")
    client.force_login(admin_user)
    page = client.get(URL, {"scope": "acme"}).content.decode()
    assert "acme follows the global thresholds; saving here gives it its own." in page
    assert "Use the global thresholds" not in page

    response = client.post(URL, form(scope="acme", restrict_violations=2))
    assert response.status_code == 302 and response["Location"] == f"{URL}?scope=acme"

    assert thresholds_for(acme).organization == acme
    assert thresholds_for(acme).restrict_violations == 2
    assert thresholds_for(globex).organization is None
    assert thresholds_for(None).restrict_violations == 3
    change = ThresholdChange.objects.get()
    assert (change.organization, change.before, change.subjects_changed) == (acme, DEFAULTS, 1)
    assert AuditEvent.objects.filter(action=AuditAction.THRESHOLDS_CHANGE, target="acme").exists()
    two_of_two.refresh_from_db()
    other.refresh_from_db()
    assert (two_of_two.status, other.status) == (SubjectStatus.RESTRICTED, SubjectStatus.WARNED)

    page = client.get(URL, {"scope": "acme"}).content.decode()
    assert "follows the global thresholds" not in page
    assert ">Use the global thresholds</button>" in page
    assert shown_value(page, "restrict_violations") == "2"
    assert client.get(URL, {"scope": "globex"}).context["values"] == DEFAULTS


def test_global_changes_skip_organizations_with_their_own(
    client, admin_user, acme, globex, reviewer_decides, two_of_two
):
    other = reviewer_decides(SubjectFactory(organization=globex), "VV", "fraud")
    thresholds_save(organization=acme, rules=Rules(restrict_violations=4), user=admin_user)
    client.force_login(admin_user)
    client.post(URL, form(restrict_violations=2))
    two_of_two.refresh_from_db()
    other.refresh_from_db()
    assert (two_of_two.status, other.status) == (SubjectStatus.WARNED, SubjectStatus.RESTRICTED)
    assert thresholds_for(acme).restrict_violations == 4


def test_use_the_global_thresholds_drops_the_organizations_own(
    client, admin_user, acme, reviewer_decides
):
    # acme's own rule is laxer than the global one: three of three only warns there.
    thresholds_save(organization=acme, rules=Rules(restrict_violations=4), user=admin_user)
    subject = reviewer_decides(SubjectFactory(organization=acme), "VVV", "fraud")
    assert subject.status == SubjectStatus.WARNED

    client.force_login(admin_user)
    response = client.post(URL, {"action": "reset", "scope": "acme"}, follow=True)
    assert response.redirect_chain == [(f"{URL}?scope=acme", 302)]
    assert (
        "acme follows the global thresholds again; 1 user changed status under them."
        in response.content.decode()
    )
    assert not Thresholds.objects.filter(organization=acme).exists()
    assert thresholds_for(acme).organization is None

    change = ThresholdChange.objects.filter(organization=acme).first()
    assert change.changed_by == admin_user
    assert change.before == {**DEFAULTS, "restrict_violations": 4}
    assert change.after == DEFAULTS
    assert AuditEvent.objects.filter(
        action=AuditAction.THRESHOLDS_CHANGE, target="acme", detail__reset=True
    ).exists()
    # The global rules now apply to acme's users, as a save would apply them.
    subject.refresh_from_db()
    assert subject.status == SubjectStatus.RESTRICTED
    assert change.subjects_changed == 1


def test_use_the_global_thresholds_without_own_ones_changes_nothing(client, admin_user, acme):
    client.force_login(admin_user)
    response = client.post(URL, {"action": "reset", "scope": "acme"})
    assert response.status_code == 302
    assert not ThresholdChange.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.THRESHOLDS_CHANGE).exists()
