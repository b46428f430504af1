"""Settings rows read once per process, and a change seen by the next decision in every
process (services/config_cache.py)."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from django.conf import settings
from django.db import connection, transaction

from moderation.models import PolicyCategory, QualitySettings, Thresholds
from moderation.selectors import decision_categories
from moderation.services import config_cache
from moderation.services.thresholds import Rules, thresholds_for, thresholds_global, thresholds_save

pytestmark = pytest.mark.django_db(transaction=True)


def _another_process(sql: str) -> None:
    """A write by another process: its own connection, committed, no signal in this one."""
    params = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"}) as other:
        other.execute(sql)


def _moved_by_another_process() -> None:
    """What another process's commit does to this one: the shared version moves."""
    config_cache._redis().set(config_cache._key(), uuid.uuid4().hex)


def test_thresholds_are_read_once_until_the_version_moves(django_assert_num_queries):
    thresholds_global()
    thresholds_for(None)
    with django_assert_num_queries(0):
        assert thresholds_for(None).warn_violations == 1
    _another_process("UPDATE moderation_thresholds SET warn_violations = 4")
    # Without the version moving, this process still has its copy: the cache is real ...
    assert thresholds_for(None).warn_violations == 1
    # ... and another process's commit (which moves the version) is seen at the next read.
    _moved_by_another_process()
    assert thresholds_for(None).warn_violations == 4


def test_a_change_through_the_service_moves_the_shared_version(admin_user):
    thresholds_for(None)
    before = config_cache._redis().get(config_cache._key())
    thresholds_save(organization=None, rules=Rules(warn_violations=2), user=admin_user)
    assert config_cache._redis().get(config_cache._key()) not in (None, before)
    assert thresholds_for(None).warn_violations == 2


def test_a_redis_that_lost_the_version_keeps_no_copy(django_assert_num_queries):
    """Redis restarted without persistence (or flushed): a fresh token, so no copy kept under
    the old one is trusted, whatever it was."""
    thresholds_global()
    thresholds_for(None)
    with django_assert_num_queries(0):
        thresholds_for(None)
    _another_process("UPDATE moderation_thresholds SET warn_violations = 5")
    config_cache._redis().delete(config_cache._key())
    assert thresholds_for(None).warn_violations == 5


def test_the_settings_page_takes_effect_at_once(admin_client):
    thresholds_for(None)
    form = {**Rules(warn_violations=3).__dict__, "remove_on_critical": "on", "action": "save"}
    response = admin_client.post("/settings/thresholds/", form)
    assert response.status_code == 302
    assert Thresholds.objects.get(organization=None).warn_violations == 3
    assert thresholds_for(None).warn_violations == 3


def test_a_rolled_back_write_is_never_remembered():
    thresholds_for(None)
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        Thresholds.objects.filter(organization=None).first().save()
        Thresholds.objects.filter(organization=None).update(warn_violations=7)
        assert thresholds_for(None).warn_violations == 7  # this transaction's own view
        raise RuntimeError
    assert thresholds_for(None).warn_violations == 1


def test_categories_follow_a_rename(django_assert_num_queries):
    decision_categories()
    with django_assert_num_queries(0):
        decision_categories()
    category = PolicyCategory.objects.order_by("pk").first()
    category.name = "Renamed"
    category.save()
    assert decision_categories()[0].name == "Renamed"


def test_without_redis_the_rows_are_read_each_time(monkeypatch, django_assert_num_queries):
    thresholds_for(None)
    broken = config_cache.redis.Redis.from_url("redis://127.0.0.1:1/0", socket_timeout=0.2)
    monkeypatch.setattr(config_cache, "_client", (settings.REDIS_URL, broken))
    with django_assert_num_queries(1):
        thresholds_for(None)
    assert settings.REDIS_URL


@transaction.atomic
def _in_one_wrapped_transaction(write: bool) -> int:
    if write:
        QualitySettings.objects.update_or_create(pk=1, defaults={"gold_percent": 1})
    return thresholds_for(None).warn_violations


def test_a_write_marks_only_its_own_transaction(django_assert_num_queries):
    """`@transaction.atomic` reuses one Atomic object for every call: a write in one call
    must not make the calls after it read through (it did, so every later decision of the
    process read the settings rows again)."""
    thresholds_global()
    _in_one_wrapped_transaction(write=True)
    thresholds_for(None)
    with django_assert_num_queries(2):  # BEGIN and COMMIT ... and no settings row
        _in_one_wrapped_transaction(write=False)


def test_policy_exceptions_are_kept_and_follow_a_grant_a_revoke_and_the_clock(
    django_assert_num_queries,
):
    from datetime import timedelta

    from django.utils import timezone

    from moderation.services.policy import exception_revoke, exceptions_active
    from tests.factories import OrganizationFactory, grant_exception

    acme = OrganizationFactory()
    assert exceptions_active(organization_id=acme.pk) == []
    starts = timezone.now() + timedelta(hours=1)
    granted = grant_exception(acme, valid_from=starts, valid_until=starts + timedelta(days=1))
    exceptions_active(organization_id=acme.pk)
    with django_assert_num_queries(0):
        # Not yet in force, then in force, then over: the dates need no read.
        assert exceptions_active(organization_id=acme.pk) == []
        assert exceptions_active(organization_id=acme.pk, now=starts) == [granted]
        assert exceptions_active(organization_id=acme.pk, now=starts + timedelta(days=1)) == []
    exception_revoke(exception=granted, user=None)
    assert exceptions_active(organization_id=acme.pk, now=starts) == []
    # Another process's grant is seen once its commit moves the version.
    again = grant_exception(acme, valid_until=timezone.now() + timedelta(days=2))
    assert exceptions_active(organization_id=acme.pk) == [again]
    _another_process(
        f"UPDATE moderation_policyexception SET revoked_at = now() WHERE id = {again.pk}"
    )
    assert exceptions_active(organization_id=acme.pk) == [again]  # this process's copy
    _moved_by_another_process()
    assert exceptions_active(organization_id=acme.pk) == []
