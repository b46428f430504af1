"""/settings/sla/: admins set each queue's target in minutes or hours; errors are shown and
change nothing; a change is audited and re-times the waiting items; /queue/ then shows each
queue's target, its items at risk and overdue, and marks the listed items in words."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from moderation.models import AuditAction, AuditEvent, ReviewQueue
from moderation.services import sla
from tests.factories import FlaggedItemFactory, page_of

pytestmark = pytest.mark.django_db

URL = "/settings/sla/"


def form(**changes: str) -> dict[str, str]:
    return {
        "critical-amount": "1",
        "critical-unit": "hours",
        "escalated-amount": "4",
        "escalated-unit": "hours",
        "standard-amount": "24",
        "standard-unit": "hours",
        "audit-amount": "72",
        "audit-unit": "hours",
        **changes,
    }


def test_it_shows_each_queues_target_and_its_default(admin_client):
    page = page_of(admin_client.get(URL))
    assert "<h1>SLA targets</h1>" in page
    assert 'name="standard-amount" type="number"' in page and 'value="24"' in page
    assert '<option value="hours" selected>hours</option>' in page
    for label in ("Critical", "Escalated", "Standard", "Exception audit"):
        assert f">{label}</th>" in page
    assert "never: the default" in page


def test_the_settings_navigation_links_it_for_admins(admin_client):
    assert 'href="/settings/sla/" aria-current="page">SLAs</a>' in page_of(admin_client.get(URL))


def test_seniors_find_no_link_to_it(senior_client):
    assert 'href="/settings/sla/"' not in page_of(senior_client.get("/queue/"))
    assert senior_client.get(URL).status_code == 403


def test_saving_sets_the_targets_retimes_and_audits(admin_client, admin_user):
    item = FlaggedItemFactory(queue=ReviewQueue.STANDARD, queued_at=timezone.now())
    response = admin_client.post(URL, form(**{"standard-amount": "90", "standard-unit": "minutes"}))
    assert response.status_code == 302 and response["Location"] == URL
    assert sla.target_for("standard") == timedelta(minutes=90)
    item.refresh_from_db()
    assert item.due_at == item.queued_at + timedelta(minutes=90)
    (event,) = AuditEvent.objects.filter(action=AuditAction.SLA_TARGETS)
    assert event.actor == admin_user
    assert event.detail["before"] == {"standard": 1440}
    assert event.detail["after"] == {"standard": 90}
    page = page_of(admin_client.get(URL))
    assert "Targets saved: Standard (1 waiting item re-timed)." in page
    assert 'value="90"' in page and '<option value="minutes" selected>minutes</option>' in page
    assert f"by {admin_user.username}" in page


def test_saving_unchanged_targets_says_so_and_writes_nothing(admin_client):
    admin_client.post(URL, form())
    assert "No target changed: nothing was saved." in page_of(admin_client.get(URL))
    assert not AuditEvent.objects.filter(action=AuditAction.SLA_TARGETS).exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"critical-amount": "0"}, "Critical: From 1 minute to 30 days (720 hours)."),
        ({"audit-amount": "721"}, "Exception audit: From 1 minute to 30 days (720 hours)."),
        ({"standard-amount": "1.5", "standard-unit": "minutes"}, "Standard: Whole minutes only."),
        ({"escalated-amount": ""}, "Escalated: A number: minutes or hours."),
        ({"escalated-unit": "weeks"}, "Escalated: Choose minutes or hours."),
    ],
)
def test_a_bad_target_is_shown_and_nothing_changes(admin_client, changes, message):
    response = admin_client.post(URL, form(**{"standard-amount": "2", **changes}))
    assert response.status_code == 422
    page = response.content.decode()
    assert "Not saved:" in page and message in page and "Nothing was changed." in page
    assert 'aria-invalid="true"' in page
    assert sla.target_for("standard") == timedelta(hours=24)  # nor any good field
    assert not AuditEvent.objects.filter(action=AuditAction.SLA_TARGETS).exists()


def test_the_queue_page_shows_targets_at_risk_and_overdue(reviewer_client):
    now = timezone.now()
    late = FlaggedItemFactory(queue=ReviewQueue.CRITICAL, queued_at=now - timedelta(minutes=90))
    risky = FlaggedItemFactory(queue=ReviewQueue.CRITICAL, queued_at=now - timedelta(minutes=50))
    FlaggedItemFactory(queue=ReviewQueue.STANDARD, queued_at=now - timedelta(hours=2))
    page = page_of(reviewer_client.get("/queue/"))
    assert "Target 1 h" in page and "Target 24 h" in page
    assert '<span class="sla sla-overdue">1 overdue</span>' in page
    assert '<span class="sla sla-at_risk">1 at risk</span>' in page
    assert "oldest waiting 1\xa0hour, 30\xa0minutes" in page
    rows = page.split("<tbody>")[-1]
    assert rows.index(f"Item {late.pk}") < rows.index("Overdue") < rows.index(f"Item {risky.pk}")
    assert rows.index(f"Item {risky.pk}") < rows.index("At risk")
    assert rows.count('class="sla sla-') == 2  # the standard item is on time: no mark
    assert '<th scope="col">Waiting</th>' in page
