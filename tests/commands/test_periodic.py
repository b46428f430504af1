"""The periodic command: the workers' housekeeping, once, without a worker."""

from __future__ import annotations

from datetime import timedelta

import django_rq
import pytest
from django.core.management import call_command
from django.utils import timezone

from moderation import selectors
from moderation.api.schema import validate_items
from moderation.models import InboundBatch
from moderation.queues import ingest_job_id
from moderation.services import ingest
from tests.conftest import make_item

pytestmark = pytest.mark.django_db


def test_periodic_once_runs_the_housekeeping(
    signed_key, redis_clean, django_capture_on_commit_callbacks
):
    """The Redis-less demo's stand-in for the workers' periodic tasks."""
    valid, _ = validate_items(
        make_item(1),
        key_organization="acme",
        organizations={"acme"},
        category_for_label=selectors.category_labels(),
    )
    batch, _ = ingest.batch_accept(api_key=signed_key.api_key, webhook_id="w-periodic", items=valid)
    InboundBatch.objects.filter(pk=batch.pk).update(enqueued_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        call_command("periodic", "--once")
    assert django_rq.get_queue("ingest").job_ids == [ingest_job_id(batch.pk)]
