"""Hard limits (CONTRACT §7): no exception for any of them, refused by the policy service, by
the model's validation and by the database itself."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone

from moderation.models import AuditAction, AuditEvent, PolicyCategory, PolicyException
from moderation.services.policy import ExceptionRefused, exception_grant
from tests.factories import HARD_LIMITS, category, grant_exception

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("slug", HARD_LIMITS)
def test_it_refuses_an_exception_for_every_hard_limit(acme, admin_user, slug):
    with pytest.raises(ExceptionRefused) as refused:
        exception_grant(
            organization=acme,
            category=category(slug),
            scope="anything",
            reference="CTR-1",
            valid_until=timezone.now() + timedelta(days=30),
            approved_by=admin_user,
        )
    message = str(refused.value)
    assert "hard limit" in message and slug in message
    assert category(slug).name in message
    assert not PolicyException.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.EXCEPTION_GRANT).exists()


def test_the_seven_hard_limits_are_all_the_hard_limits():
    assert set(
        PolicyCategory.objects.filter(hard_limit=True).values_list("slug", flat=True)
    ) == set(HARD_LIMITS)


@pytest.mark.parametrize("slug", ["weapons", "child-safety"])
def test_the_database_refuses_a_hard_limit_exception_inserted_directly(acme, slug):
    now = timezone.now()
    with pytest.raises(DatabaseError, match=r"hard.limit"), transaction.atomic():
        PolicyException.objects.create(
            organization=acme,
            category=category(slug),
            scope="bypassing the service",
            reference="none",
            valid_from=now,
            valid_until=now + timedelta(days=1),
        )
    assert not PolicyException.objects.exists()


def test_the_database_refuses_moving_an_exception_onto_a_hard_limit(acme):
    exception = grant_exception(acme)
    with pytest.raises(DatabaseError, match=r"hard.limit"), transaction.atomic():
        PolicyException.objects.filter(pk=exception.pk).update(category=category("weapons"))
    exception.refresh_from_db()
    assert exception.category.slug == "foreign-intelligence"


def test_the_model_validation_refuses_a_hard_limit(acme):
    now = timezone.now()
    candidate = PolicyException(
        organization=acme,
        category=category("mass-surveillance"),
        scope="s",
        reference="r",
        valid_from=now,
        valid_until=now + timedelta(days=1),
    )
    with pytest.raises(ValidationError) as invalid:
        candidate.full_clean()
    assert "category" in invalid.value.message_dict
    assert "hard limit" in invalid.value.message_dict["category"][0]
