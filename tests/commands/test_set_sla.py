"""The set_sla command: the queues' SLA targets in minutes or hours, printed as one JSON
object; a bad value refused with nothing changed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError
from django.utils import timezone

from moderation.models import AuditAction, AuditEvent, ReviewQueue
from moderation.services import sla
from tests.factories import FlaggedItemFactory, run_json

pytestmark = pytest.mark.django_db

DEFAULTS = {"critical": 60, "standard": 1440, "escalated": 240, "audit": 4320}


def test_with_no_option_it_prints_the_targets_and_changes_nothing():
    assert run_json("set_sla") == {"target_minutes": DEFAULTS, "retimed": {}}
    assert not AuditEvent.objects.filter(action=AuditAction.SLA_TARGETS).exists()


def test_it_sets_targets_in_minutes_or_hours_and_retimes_waiting_items():
    item = FlaggedItemFactory(queue=ReviewQueue.STANDARD, queued_at=timezone.now())
    printed = run_json("set_sla", "--standard", "90m", "--critical", "0.5h", "--audit", "4320")
    assert printed == {
        "target_minutes": {**DEFAULTS, "standard": 90, "critical": 30},
        "retimed": {"standard": 1, "critical": 0},
    }
    item.refresh_from_db()
    assert item.due_at == item.queued_at + timedelta(minutes=90)
    (event,) = AuditEvent.objects.filter(action=AuditAction.SLA_TARGETS)
    assert event.actor is None and event.detail["via"] == "command line"


@pytest.mark.parametrize(
    ("option", "value", "reason"),
    [
        ("--standard", "0", "--standard: From 1 minute to 30 days (720 hours)."),
        ("--audit", "31 days", "--audit: A number: minutes or hours."),
        ("--critical", "1.5m", "--critical: Whole minutes only."),
        ("--escalated", "721h", "--escalated: From 1 minute to 30 days (720 hours)."),
    ],
)
def test_it_refuses_a_bad_target_and_changes_nothing(option, value, reason):
    with pytest.raises(CommandError, match="refused, nothing changed") as refused:
        run_json("set_sla", "--standard", "2h", option, value)
    assert reason in str(refused.value)
    assert sla.target_for("standard") == timedelta(hours=24)
    assert not AuditEvent.objects.filter(action=AuditAction.SLA_TARGETS).exists()
