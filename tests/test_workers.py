"""The ingest workers (real Redis) in burst mode: SweepingWorker (forked work horses) and
InProcessWorker (no fork)."""

from __future__ import annotations

import signal as signal_module
from typing import Any

import django_rq
import pytest
from django.db import connection

from moderation.models import BatchStatus, FlaggedItem, InboundBatch
from moderation.services import ingest
from moderation.workers import InProcessWorker, SweepingWorker
from tests.conftest import make_item
from tests.factories import accept, break_processing, ingest_queue, make_stale

pytestmark = pytest.mark.django_db


STOP_SIGNALS = (signal_module.SIGINT, signal_module.SIGTERM)


def burst_worker() -> bool:
    """`rqworker ingest --burst` in this process: the configured SweepingWorker."""
    worker = django_rq.get_worker("ingest")
    assert isinstance(worker, SweepingWorker)
    # The worker installs its own SIGINT/SIGTERM handlers; give pytest its own back.
    handlers = {sig: signal_module.getsignal(sig) for sig in STOP_SIGNALS}
    try:
        return worker.work(burst=True)
    finally:
        for sig, handler in handlers.items():
            signal_module.signal(sig, handler)


@pytest.mark.django_db(transaction=True)
def test_a_burst_worker_processes_the_queued_batches(signed_key, redis_clean):
    first = accept(signed_key.api_key, *(make_item(n) for n in range(20)))
    second = accept(signed_key.api_key, make_item(19), make_item(20))
    assert ingest_queue().count == 2

    assert burst_worker()

    assert ingest_queue().count == 0
    statuses = dict(InboundBatch.objects.values_list("pk", "status"))
    assert statuses == {first.pk: "processed", second.pk: "processed"}
    assert FlaggedItem.objects.count() == 21
    assert InboundBatch.objects.get(pk=second.pk).duplicates == 1


@pytest.mark.django_db(transaction=True)
def test_a_burst_worker_sweeps_up_a_batch_whose_job_was_lost(signed_key, redis_clean):
    batch = accept(signed_key.api_key, make_item(1), make_item(2))
    redis_clean.flushdb()  # Redis restarted without persistence: the job is gone
    make_stale(batch)

    assert burst_worker()

    batch.refresh_from_db()
    assert batch.status == BatchStatus.PROCESSED
    assert FlaggedItem.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_workers_retry_a_failing_batch_until_it_fails_for_good(signed_key, redis_clean, settings):
    settings.MODQUEUE_INGEST_MAX_ATTEMPTS = 2
    batch = break_processing(signed_key)
    burst_worker()
    batch.refresh_from_db()
    assert (batch.status, batch.attempts) == ("pending", 1)

    make_stale(batch)
    burst_worker()
    batch.refresh_from_db()
    assert (batch.status, batch.attempts) == ("failed", 2)

    make_stale(batch)
    assert ingest.batches_sweep() == 0
    assert ingest_queue().count == 0


# --- The non-forking worker `make worker` runs ---------------------------------------------


def in_process_burst_worker() -> bool:
    """`rqworker --worker-class moderation.workers.InProcessWorker ingest --burst`, here."""
    worker = django_rq.get_worker("ingest", worker_class="moderation.workers.InProcessWorker")
    assert isinstance(worker, InProcessWorker)
    handlers = {sig: signal_module.getsignal(sig) for sig in STOP_SIGNALS}
    try:
        return worker.work(burst=True)
    finally:
        for sig, handler in handlers.items():
            signal_module.signal(sig, handler)


@pytest.mark.django_db(transaction=True)
def test_the_in_process_worker_survives_a_failing_job_and_processes_the_next(
    signed_key, redis_clean
):
    broken = break_processing(signed_key)
    fine = accept(signed_key.api_key, make_item(7), make_item(8))
    assert ingest_queue().count == 2

    assert in_process_burst_worker()

    # The failed job was recorded and the same process went on to the next batch, on a
    # connection still fit for use.
    broken.refresh_from_db()
    assert (broken.status, broken.attempts) == ("pending", 1)
    assert "DoesNotExist" in broken.last_error or "KeyError" in broken.last_error
    assert InboundBatch.objects.get(pk=fine.pk).status == BatchStatus.PROCESSED
    assert FlaggedItem.objects.count() == 2
    assert django_rq.get_queue("ingest").failed_job_registry.count == 1
    assert connection.is_usable()


@pytest.mark.django_db(transaction=True)
def test_the_in_process_worker_sweeps_up_a_lost_batch(signed_key, redis_clean):
    batch = accept(signed_key.api_key, make_item(1), make_item(2))
    redis_clean.flushdb()
    make_stale(batch)

    assert in_process_burst_worker()

    batch.refresh_from_db()
    assert batch.status == BatchStatus.PROCESSED
    assert FlaggedItem.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_in_process_worker_closes_a_broken_connection_before_the_next_job(
    signed_key, redis_clean
):
    batch = accept(signed_key.api_key, make_item(1))
    # The connection the last job left behind was cut (PostgreSQL restarted, say).
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    with psycopg_admin() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])
    connection.errors_occurred = True  # as Django marks it when a query fails on it

    assert in_process_burst_worker()

    batch.refresh_from_db()
    assert batch.status == BatchStatus.PROCESSED


def psycopg_admin() -> Any:
    import psycopg

    from tests.processes import database_url_for_tests

    return psycopg.connect(database_url_for_tests(), autocommit=True)
