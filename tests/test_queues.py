"""The ingest queue: a batch's job is enqueued once its transaction commits (real Redis)."""

from __future__ import annotations

import pytest
from django.db import transaction

from moderation.models import BatchStatus, FlaggedItem, InboundBatch
from moderation.queues import ingest_job_id
from tests.conftest import make_item
from tests.factories import accept, ingest_queue

pytestmark = pytest.mark.django_db


def test_it_enqueues_the_job_only_when_the_transaction_commits(
    signed_key, redis_clean, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        batch = accept(signed_key.api_key, make_item(1))
        assert ingest_queue().count == 0
    assert len(callbacks) == 1
    assert ingest_queue().job_ids == [ingest_job_id(batch.pk)]
    job = ingest_queue().fetch_job(ingest_job_id(batch.pk))
    assert job.func_name == "moderation.jobs.ingest_batch"
    assert job.args == (str(batch.pk),)


def test_a_rolled_back_request_enqueues_nothing(
    signed_key, redis_clean, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            accept(signed_key.api_key, make_item(1))
            raise RuntimeError("the request failed after accepting")
    assert callbacks == []
    assert ingest_queue().count == 0
    assert InboundBatch.objects.count() == 0


def test_inline_jobs_process_the_batch_right_after_commit(
    signed_key, settings, django_capture_on_commit_callbacks
):
    settings.MODQUEUE_INLINE_JOBS = True
    with django_capture_on_commit_callbacks(execute=True):
        batch = accept(signed_key.api_key, make_item(1), make_item(2))
    batch.refresh_from_db()
    assert batch.status == BatchStatus.PROCESSED
    assert FlaggedItem.objects.count() == 2
