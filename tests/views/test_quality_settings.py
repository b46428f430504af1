"""/settings/quality/: admins set the gold and second-review shares and each gold set's
feedback; errors are shown and change nothing; every change is audited; nobody else gets in."""

from __future__ import annotations

from decimal import Decimal

import pytest

from moderation.models import AuditAction, AuditEvent, GoldSet, ItemState, QualitySettings
from tests.factories import (
    FlaggedItemFactory,
    GoldItemFactory,
    GoldSetFactory,
    page_of,
)

pytestmark = pytest.mark.django_db

URL = "/settings/quality/"


def form(**changes: str) -> dict[str, str]:
    return {
        "action": "save",
        "gold_percent": "2",
        "second_review_percent": "5",
        **changes,
    }


def audit_rows() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditAction.QUALITY_SETTINGS).order_by("id"))


def test_it_shows_the_form_with_the_current_values(admin_client):
    page = page_of(admin_client.get(URL))
    assert "Golden items (% of claims)" in page
    assert "Second review (% of final decisions)" in page
    assert "Always second-review decisions that would propose a removal" in page
    assert 'name="gold_percent" type="number" min="0" max="100" step="0.01" value="2"' in page
    assert 'value="5"' in page
    assert 'href="/reports/quality/"' in page


def test_the_settings_navigation_links_it_for_admins(admin_client):
    page = page_of(admin_client.get(URL))
    assert 'href="/settings/quality/" aria-current="page">Quality</a>' in page


def test_seniors_find_no_link_to_it(senior_client):
    assert 'href="/settings/quality/"' not in page_of(senior_client.get("/queue/"))


def test_saving_stores_the_values_and_audits_the_change(admin_client, admin_user):
    response = admin_client.post(
        URL,
        form(gold_percent="2.5", second_review_percent="10", second_review_all_removals="on"),
    )
    assert response.status_code == 302 and response["Location"] == URL
    settings = QualitySettings.current()
    assert settings.gold_percent == Decimal("2.5")
    assert settings.second_review_percent == Decimal("10")
    assert settings.second_review_all_removals is True
    assert settings.updated_by == admin_user
    (event,) = audit_rows()
    assert event.actor == admin_user
    assert event.detail["before"] == {
        "gold_percent": "2",
        "second_review_percent": "5",
        "second_review_all_removals": False,
    }
    assert event.detail["after"] == {
        "gold_percent": "2.5",
        "second_review_percent": "10",
        "second_review_all_removals": True,
    }
    page = page_of(admin_client.get(URL))
    assert 'value="2.5"' in page and "Quality settings saved." in page


def test_saving_the_form_unchanged_writes_no_audit_row(admin_client):
    admin_client.post(URL, form())
    assert audit_rows() == []


def test_the_removal_checkbox_unchecked_turns_it_off(admin_client):
    admin_client.post(URL, form(second_review_all_removals="on"))
    admin_client.post(URL, form())
    assert QualitySettings.current().second_review_all_removals is False


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"gold_percent": "101"}, "gold_percent"),
        ({"gold_percent": "-1"}, "gold_percent"),
        ({"gold_percent": "lots"}, "gold_percent"),
        ({"gold_percent": ""}, "gold_percent"),
        ({"second_review_percent": "NaN"}, "second_review_percent"),
        ({"second_review_percent": "1.234"}, "second_review_percent"),
    ],
)
def test_a_bad_value_is_shown_and_nothing_changes(admin_client, changes, field):
    response = admin_client.post(URL, form(second_review_all_removals="on", **changes))
    assert response.status_code == 422
    page = response.content.decode()
    assert 'role="alert"' in page and "Nothing was changed." in page
    assert f'id="{field}"' in page and f'aria-describedby="err-{field}"' in page
    # The form keeps what was typed.
    assert f'value="{next(iter(changes.values()))}"' in page
    settings = QualitySettings.current()
    assert (settings.gold_percent, settings.second_review_percent) == (Decimal(2), Decimal(5))
    assert settings.second_review_all_removals is False
    assert audit_rows() == []


def test_the_gold_sets_are_listed_with_their_counts(admin_client, acme):
    gold_set = GoldSetFactory(name="March calibration")
    served = GoldItemFactory(gold_set=gold_set, organization=acme)
    GoldItemFactory(gold_set=gold_set, organization=acme, active=False)
    FlaggedItemFactory(gold=served, state=ItemState.DECIDED)
    FlaggedItemFactory(gold=served, state=ItemState.RETIRED)
    GoldSetFactory(name="Empty set")
    page = page_of(admin_client.get(URL))
    row = page[page.index("March calibration") :].split("</tr>")[0]
    cells = [c.split("</td>")[0] for c in row.split('<td class="num">')[1:]]
    assert cells == ["2", "1", "2", "1"]  # items, active, served, decided
    assert "Empty set" in page


def test_feedback_is_turned_off_and_on_per_set_and_audited(admin_client, admin_user):
    gold_set = GoldSetFactory(name="March calibration")
    other = GoldSetFactory(name="Other")
    response = admin_client.post(URL, {"action": "feedback", "gold_set": str(gold_set.pk)})
    assert response.status_code == 302
    gold_set.refresh_from_db()
    other.refresh_from_db()
    assert gold_set.feedback is False and other.feedback is True
    (event,) = audit_rows()
    assert event.actor == admin_user and event.target == "gold set March calibration"
    assert event.detail == {
        "gold_set": "March calibration",
        "before": {"feedback": True},
        "after": {"feedback": False},
    }
    admin_client.post(URL, {"action": "feedback", "gold_set": str(gold_set.pk), "feedback": "on"})
    gold_set.refresh_from_db()
    assert gold_set.feedback is True and len(audit_rows()) == 2
    # The settings themselves were not touched.
    assert QualitySettings.current().updated_by is None


def test_feedback_for_an_unknown_set_is_404(admin_client):
    response = admin_client.post(URL, {"action": "feedback", "gold_set": "999999"})
    assert response.status_code == 404
    response = admin_client.post(URL, {"action": "feedback", "gold_set": "x"})
    assert response.status_code == 404


@pytest.mark.parametrize("who", ["reviewer_client", "senior_client", "roleless_client"])
def test_only_admins_get_in(request, who):
    client = request.getfixturevalue(who)
    gold_set = GoldSetFactory()
    assert client.get(URL).status_code == 403
    assert client.post(URL, form(gold_percent="50")).status_code == 403
    assert client.post(URL, {"action": "feedback", "gold_set": str(gold_set.pk)}).status_code == 403
    assert QualitySettings.current().gold_percent == Decimal(2)
    assert GoldSet.objects.get().feedback is True
    assert audit_rows() == []


def test_signed_out_visitors_are_sent_to_log_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
