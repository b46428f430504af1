"""SLA targets in a real browser: an admin sets the standard queue's target on /settings/sla/
(a bad value is refused out loud and changes nothing), and /queue/ then shows the item that
has waited 45 minutes as overdue, in words, with its queue's count."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from moderation.models import AuditAction, AuditEvent, FlaggedItem
from moderation.services import sla

from .conftest import screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_admin_shortens_a_target_and_the_queue_shows_the_item_overdue(
    page: Page, mild_queue: list[FlaggedItem], admin_user: Any
):
    now = timezone.now()
    late, risky = mild_queue[0], mild_queue[1]
    # Waiting 45 and 25 minutes: on time under the standard queue's 24 h.
    FlaggedItem.objects.filter(pk=late.pk).update(queued_at=now - timedelta(minutes=45))
    FlaggedItem.objects.filter(pk=risky.pk).update(queued_at=now - timedelta(minutes=25))

    sign_in(page, "ada")
    expect(page.get_by_role("row").filter(has_text=f"Item {late.pk}")).not_to_contain_text(
        "Overdue"
    )
    page.get_by_role("link", name="SLAs", exact=True).click()
    expect(page.get_by_role("heading", name="SLA targets")).to_be_visible()
    expect(page.get_by_label("Standard target")).to_have_value("24")
    expect(page.get_by_label("Standard unit")).to_have_value("hours")

    # Out of range: said out loud, nothing changes.
    page.get_by_label("Standard target").fill("0")
    page.get_by_role("button", name="Save targets").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "Standard: From 1 minute to 30 days (720 hours). Nothing was changed."
    )
    expect(page.get_by_label("Standard target")).to_have_attribute("aria-invalid", "true")
    assert sla.target_for("standard") == timedelta(hours=24)

    page.get_by_label("Standard target").fill("30")
    page.get_by_label("Standard unit").select_option("minutes")
    page.get_by_role("button", name="Save targets").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Targets saved: Standard (6 waiting items re-timed)."
    )
    expect(page.get_by_label("Standard target")).to_have_value("30")
    screenshot(page, "sla-settings")
    assert AuditEvent.objects.filter(action=AuditAction.SLA_TARGETS, actor=admin_user).exists()

    page.goto("/queue/")
    card = page.get_by_role("link").filter(has_text="Standard")
    expect(card).to_contain_text("Target 30 min")
    expect(card).to_contain_text("1 overdue")
    expect(card).to_contain_text("1 at risk")
    rows = page.get_by_role("row")
    # Overdue comes first: its due time passed long ago.
    expect(rows.nth(1)).to_contain_text(f"Item {late.pk}")
    expect(rows.nth(1)).to_contain_text("Overdue")
    expect(rows.nth(2)).to_contain_text(f"Item {risky.pk}")
    expect(rows.nth(2)).to_contain_text("At risk")
    expect(rows.nth(3)).not_to_contain_text("At risk")
    screenshot(page, "queue-sla")
