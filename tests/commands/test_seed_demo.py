"""The seed_demo command (CONTRACT §2): the demo's users, organizations and items."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from accounts.roles import Role, user_role
from moderation.models import (
    ApiKey,
    BatchStatus,
    FlaggedItem,
    InboundBatch,
    Organization,
    Subject,
)
from moderation.services.ingest import batch_process
from tests.factories import logs_in, run

pytestmark = pytest.mark.django_db

User = get_user_model()


def seed_inline(settings: Any, capture: Any, *argv: str) -> str:
    """seed_demo as `make demo` runs it without Redis: each batch processed on commit."""
    settings.MODQUEUE_INLINE_JOBS = True
    with capture(execute=True):
        return run("seed_demo", *argv)


def test_seed_demo_loads_users_organizations_and_300_items_through_ingest(
    settings, django_capture_on_commit_callbacks
):
    out = seed_inline(settings, django_capture_on_commit_callbacks)
    roles = {u.username: user_role(u) for u in User.objects.all()}
    assert roles == {"reviewer": Role.REVIEWER, "senior": Role.SENIOR, "admin": Role.ADMIN}
    assert logs_in("reviewer", "modqueue-demo")
    assert set(Organization.objects.values_list("slug", flat=True)) == {"acme", "globex"}

    assert FlaggedItem.objects.count() == 300
    assert FlaggedItem.objects.filter(organization__slug="acme").count() == 150
    assert FlaggedItem.objects.filter(batch__isnull=True).count() == 0
    assert set(InboundBatch.objects.values_list("status", flat=True)) == {BatchStatus.PROCESSED}
    assert FlaggedItem.objects.filter(queue="critical").exists()
    assert FlaggedItem.objects.filter(queue="standard").exists()
    assert Subject.objects.count() > 10
    assert "accepted 300 flagged items" in out
    assert "modqueue-demo" in out


def test_seed_demo_twice_creates_no_duplicate_items(settings, django_capture_on_commit_callbacks):
    seed_inline(settings, django_capture_on_commit_callbacks)
    seed_inline(settings, django_capture_on_commit_callbacks)
    assert FlaggedItem.objects.count() == 300
    assert User.objects.count() == 3
    assert ApiKey.objects.count() == 1
    second_run = InboundBatch.objects.order_by("-received_at")[:4]
    assert sum(b.duplicates for b in second_run) == 300
    assert sum(b.created for b in second_run) == 0


def test_seed_demo_takes_the_password_from_the_environment(
    settings, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setenv("MODQUEUE_DEMO_PASSWORD", "a demo of our own")
    out = seed_inline(settings, django_capture_on_commit_callbacks, "--items", "10")
    assert logs_in("admin", "a demo of our own")
    assert "a demo of our own" in out
    assert FlaggedItem.objects.count() == 10


def test_seed_demo_with_redis_leaves_its_batches_to_the_workers(db):
    out = run("seed_demo", "--items", "250")
    pending = InboundBatch.objects.filter(status=BatchStatus.PENDING)
    assert FlaggedItem.objects.count() == 0
    assert "(4 batches still queued)" in out
    for batch in pending:
        batch_process(batch_id=str(batch.pk))
    assert FlaggedItem.objects.count() == 250
