"""The grant_exception command (CONTRACT §2): an exception granted and printed, never for a hard
limit, with dates as YYYY-MM-DD."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError
from django.utils import timezone

from moderation.models import AuditAction, AuditEvent, PolicyException
from tests.factories import HARD_LIMITS, manage, run, run_json

pytestmark = pytest.mark.django_db


def test_grant_exception_grants_foreign_intelligence_and_prints_it(acme):
    until = (timezone.now() + timedelta(days=365)).date()
    printed = run_json(
        "grant_exception",
        "acme",
        "foreign-intelligence",
        "--until",
        until.isoformat(),
        "--reference",
        "CTR-2026-017",
        "--scope",
        "Analysis of foreign state actors",
    )
    exception = PolicyException.objects.get()
    assert printed == {
        "exception_id": exception.pk,
        "organization": "acme",
        "category": "foreign-intelligence",
        "valid_from": exception.valid_from.isoformat(),
        "valid_until": exception.valid_until.isoformat(),
        "reference": "CTR-2026-017",
    }
    # Valid to the end of its last day, UTC.
    assert exception.valid_until.astimezone(UTC).date() == until
    assert exception.valid_until.astimezone(UTC).hour == 23
    assert exception.scope == "Analysis of foreign state actors"
    assert exception.approved_via == "command line" and exception.approved_by is None
    event = AuditEvent.objects.get(action=AuditAction.EXCEPTION_GRANT)
    assert event.detail["via"] == "command line"


def test_grant_exception_takes_a_start_date_and_an_alias(acme):
    printed = run_json(
        "grant_exception",
        "acme",
        "V",
        "--from",
        "2030-01-01",
        "--until",
        "2030-12-31",
        "--reference",
        "CTR-9",
    )
    assert printed["category"] == "violence"
    exception = PolicyException.objects.get()
    assert exception.valid_from == datetime(2030, 1, 1, tzinfo=UTC)
    assert exception.scope  # a default scope naming the category
    assert "Violence" in exception.scope


@pytest.mark.parametrize("slug", [*HARD_LIMITS, "S3"])
def test_grant_exception_refuses_every_hard_limit(acme, slug):
    with pytest.raises(CommandError, match="hard limit") as refused:
        run("grant_exception", "acme", slug, "--until", "2030-01-01", "--reference", "CTR-1")
    assert "refused" in str(refused.value)
    assert not PolicyException.objects.exists()


@pytest.mark.parametrize(
    "dates, message",
    [
        (("--until", "31/12/2030"), "--until must be a date as YYYY-MM-DD"),
        (("--until", "2030-02-30"), "--until must be a date as YYYY-MM-DD"),
        (("--until", "2030-12-31", "--from", "tomorrow"), "--from must be a date as YYYY-MM-DD"),
        (("--until", "2020-01-01"), "end after it starts"),
        (("--until", "2030-01-01", "--from", "2030-06-01"), "end after it starts"),
    ],
)
def test_grant_exception_refuses_bad_dates(acme, dates, message):
    with pytest.raises(CommandError, match=message):
        run("grant_exception", "acme", "foreign-intelligence", *dates, "--reference", "CTR-1")
    assert not PolicyException.objects.exists()


def test_grant_exception_refuses_an_unknown_organization_or_category(acme):
    with pytest.raises(CommandError, match="no organization 'initech'"):
        run(
            "grant_exception",
            "initech",
            "foreign-intelligence",
            "--until",
            "2030-01-01",
            "--reference",
            "CTR-1",
        )
    with pytest.raises(CommandError, match="no policy category or alias 'espionage'"):
        run("grant_exception", "acme", "espionage", "--until", "2030-01-01", "--reference", "CTR-1")
    assert not PolicyException.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_from_a_shell_grant_exception_exits_zero_or_refuses_a_hard_limit_non_zero(acme):
    granted = manage(
        "grant_exception",
        "acme",
        "foreign-intelligence",
        "--until",
        "2030-01-01",
        "--reference",
        "CTR-1",
    )
    assert granted.returncode == 0, granted.stderr
    assert json.loads(granted.stdout)["category"] == "foreign-intelligence"

    refused = manage(
        "grant_exception",
        "acme",
        "autonomous-weapons",
        "--until",
        "2030-01-01",
        "--reference",
        "CTR-1",
    )
    assert refused.returncode != 0
    assert "hard limit" in refused.stderr and "Fully autonomous weapons" in refused.stderr
    assert refused.stdout == "" and "Traceback" not in refused.stderr
    assert list(PolicyException.objects.values_list("category__slug", flat=True)) == [
        "foreign-intelligence"
    ]
