"""The ingest service's sweeper: batches whose job was lost are enqueued again (real Redis)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rq.job import Job, JobStatus

from moderation.models import BatchStatus, InboundBatch
from moderation.queues import ingest_job_id
from moderation.services.ingest import batches_sweep
from tests.conftest import make_item
from tests.factories import accept, accept_and_process, break_processing, ingest_queue, make_stale

pytestmark = pytest.mark.django_db


def sweep(capture: Any) -> int:
    with capture(execute=True):
        return batches_sweep()


def test_the_sweeper_enqueues_a_stale_batch_whose_job_was_lost(
    signed_key, redis_clean, django_capture_on_commit_callbacks
):
    batch = accept(signed_key.api_key, make_item(1))
    make_stale(batch)
    assert sweep(django_capture_on_commit_callbacks) == 1
    assert ingest_queue().job_ids == [ingest_job_id(batch.pk)]
    batch.refresh_from_db()
    assert timezone.now() - batch.enqueued_at < timedelta(seconds=5)
    # Its job is live now: the next sweep leaves it alone.
    make_stale(batch)
    assert sweep(django_capture_on_commit_callbacks) == 0
    assert ingest_queue().count == 1


def test_the_sweeper_leaves_fresh_batches_to_their_jobs(
    signed_key, redis_clean, django_capture_on_commit_callbacks, settings
):
    settings.MODQUEUE_SWEEP_STALE_SECONDS = 60
    accept(signed_key.api_key, make_item(1))  # enqueued_at: now, its job lost or not
    assert sweep(django_capture_on_commit_callbacks) == 0
    assert ingest_queue().count == 0


def test_the_sweeper_leaves_processed_and_failed_batches_alone(
    signed_key, redis_clean, django_capture_on_commit_callbacks
):
    done = accept_and_process(signed_key.api_key, make_item(1))
    failed = accept(signed_key.api_key, make_item(2))
    InboundBatch.objects.filter(pk=failed.pk).update(status=BatchStatus.FAILED)
    make_stale(done)
    make_stale(failed)
    assert sweep(django_capture_on_commit_callbacks) == 0
    assert ingest_queue().count == 0


def test_the_sweeper_leaves_a_batch_whose_job_is_still_queued(
    signed_key, redis_clean, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        batch = accept(signed_key.api_key, make_item(1))
    make_stale(batch)
    assert sweep(django_capture_on_commit_callbacks) == 0
    assert ingest_queue().job_ids == [ingest_job_id(batch.pk)]


def started_job(batch: InboundBatch, capture: Any, *, heartbeat_ago: timedelta) -> Job:
    """The batch's job as a worker leaves it: taken off the queue, started, beating."""
    with capture(execute=True):
        from moderation.queues import enqueue_ingest

        enqueue_ingest(batch.pk)
    queue = ingest_queue()
    job = queue.fetch_job(ingest_job_id(batch.pk))
    queue.remove(job)
    job.set_status(JobStatus.STARTED)
    job.heartbeat(timezone.now() - heartbeat_ago, ttl=60)
    return job


def test_the_sweeper_enqueues_again_when_the_worker_died_mid_job(
    signed_key, redis_clean, django_capture_on_commit_callbacks
):
    batch = accept(signed_key.api_key, make_item(1))
    started_job(batch, django_capture_on_commit_callbacks, heartbeat_ago=timedelta(minutes=10))
    make_stale(batch)
    assert sweep(django_capture_on_commit_callbacks) == 1
    assert ingest_queue().job_ids == [ingest_job_id(batch.pk)]


def test_the_sweeper_leaves_a_job_a_live_worker_is_running(
    signed_key, redis_clean, django_capture_on_commit_callbacks
):
    batch = accept(signed_key.api_key, make_item(1))
    started_job(batch, django_capture_on_commit_callbacks, heartbeat_ago=timedelta(seconds=2))
    make_stale(batch)
    assert sweep(django_capture_on_commit_callbacks) == 0
    assert ingest_queue().count == 0


def test_the_sweeper_retries_a_batch_whose_job_failed(
    signed_key, redis_clean, django_capture_on_commit_callbacks
):
    batch = break_processing(signed_key)
    job = started_job(batch, django_capture_on_commit_callbacks, heartbeat_ago=timedelta(0))
    job.set_status(JobStatus.FAILED)
    make_stale(batch)
    assert sweep(django_capture_on_commit_callbacks) == 1
    assert ingest_queue().job_ids == [ingest_job_id(batch.pk)]


def test_the_sweeper_takes_the_oldest_batches_first_up_to_its_limit(
    signed_key, redis_clean, django_capture_on_commit_callbacks
):
    batches = [accept(signed_key.api_key, make_item(n)) for n in range(3)]
    for minutes, batch in zip((5, 30, 10), batches, strict=True):
        make_stale(batch, minutes=minutes)
    with django_capture_on_commit_callbacks(execute=True):
        assert batches_sweep(limit=2) == 2
    assert ingest_queue().job_ids == [ingest_job_id(batches[1].pk), ingest_job_id(batches[2].pk)]
