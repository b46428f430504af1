"""Granting a policy exception (exception_grant): for a vetted organization, audited, with a
scope, a contract reference and dates that make sense."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone

from moderation.models import AuditAction, AuditEvent, PolicyException
from moderation.services.policy import ExceptionRefused, exception_grant
from tests.factories import category, grant_exception

pytestmark = pytest.mark.django_db


def test_it_grants_an_exception_for_foreign_intelligence_and_audits_it(acme, admin_user):
    until = timezone.now() + timedelta(days=90)
    exception = exception_grant(
        organization=acme,
        category=category("foreign-intelligence"),
        scope="  Analysis of foreign state actors ",
        reference=" CTR-2026-017 ",
        valid_until=until,
        approved_by=admin_user,
    )
    exception.refresh_from_db()
    assert exception.organization == acme and exception.category.slug == "foreign-intelligence"
    assert exception.scope == "Analysis of foreign state actors"
    assert exception.reference == "CTR-2026-017"
    assert exception.valid_from <= timezone.now() < exception.valid_until == until
    assert exception.approved_by == admin_user and exception.revoked_at is None
    event = AuditEvent.objects.get(action=AuditAction.EXCEPTION_GRANT)
    assert event.actor == admin_user and event.target == "acme:foreign-intelligence"
    assert event.detail["exception"] == exception.pk
    assert event.detail["reference"] == "CTR-2026-017"


def test_the_model_validation_refuses_an_end_before_the_start(acme):
    now = timezone.now()
    candidate = PolicyException(
        organization=acme,
        category=category("foreign-intelligence"),
        scope="s",
        reference="r",
        valid_from=now,
        valid_until=now - timedelta(days=1),
    )
    with pytest.raises(ValidationError) as invalid:
        candidate.full_clean()
    assert "valid_until" in invalid.value.message_dict


@pytest.mark.parametrize(
    "start, end",
    [
        (timedelta(days=0), timedelta(days=-1)),  # ends before it starts
        (timedelta(days=10), timedelta(days=10)),  # ends as it starts
        (timedelta(days=10), timedelta(days=5)),
    ],
)
def test_it_refuses_dates_that_make_no_sense(acme, start, end):
    now = timezone.now()
    with pytest.raises(ExceptionRefused, match="end after it starts"):
        grant_exception(acme, valid_from=now + start, valid_until=now + end)
    assert not PolicyException.objects.exists()


def test_an_exception_without_a_start_ending_in_the_past_is_refused(acme):
    with pytest.raises(ExceptionRefused):
        grant_exception(acme, valid_until=timezone.now() - timedelta(days=1))
    assert not PolicyException.objects.exists()


@pytest.mark.parametrize("scope, reference", [("  ", "CTR-1"), ("analysis", "")])
def test_it_refuses_an_exception_without_scope_or_reference(acme, scope, reference):
    with pytest.raises(ExceptionRefused, match="scope and its contract reference"):
        exception_grant(
            organization=acme,
            category=category("foreign-intelligence"),
            scope=scope,
            reference=reference,
            valid_until=timezone.now() + timedelta(days=1),
        )
    assert not PolicyException.objects.exists()


def test_the_database_refuses_an_end_before_the_start_even_directly(acme):
    now = timezone.now()
    with pytest.raises(DatabaseError), transaction.atomic():
        PolicyException.objects.create(
            organization=acme,
            category=category("foreign-intelligence"),
            scope="s",
            reference="r",
            valid_from=now,
            valid_until=now - timedelta(seconds=1),
        )
