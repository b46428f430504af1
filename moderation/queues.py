"""The RQ queue class: enqueue after commit, and never fail the caller when Redis is away."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import django_rq
from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string
from django_rq.queues import DjangoRQ
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

log = logging.getLogger(__name__)


class DurableQueue(DjangoRQ):
    """django-rq's on-commit queue, for work whose record is a database row.

    Every job we enqueue stands for a row that the sweeper finds again if the job is lost,
    so an unreachable Redis is logged, not raised: the request that wrote the row has
    already committed and must still answer its client.
    """

    def original_enqueue_call(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().original_enqueue_call(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.warning(
                "redis unavailable, job %s left for the sweeper: %s", kwargs.get("job_id"), exc
            )
            return None


def ingest_job_id(batch_id: object) -> str:
    # One job id per batch, so the sweeper can ask Redis whether the batch's job still lives.
    return f"ingest-{batch_id}"


INGEST_JOB = "moderation.jobs.ingest_batch"
DELIVERY_JOB = "moderation.jobs.deliver"


def _run_after_commit(job: str, *args: object) -> None:
    """The demo's in-process jobs. Jobs are named by dotted path, as RQ names them, so this
    module never imports the jobs (which import the services, which import this)."""
    transaction.on_commit(lambda: import_string(job)(*args), robust=True)


def enqueue_ingest(batch_id: object) -> None:
    """Queue a batch for the ingest workers once the current transaction commits."""
    if settings.MODQUEUE_INLINE_JOBS:
        _run_after_commit(INGEST_JOB, str(batch_id))
        return
    django_rq.get_queue("ingest").enqueue(INGEST_JOB, str(batch_id), job_id=ingest_job_id(batch_id))


def ingest_job_alive(batch_id: object, *, stale_before: datetime) -> bool:
    """Whether Redis holds a job for the batch that will still run or is running now."""
    if settings.MODQUEUE_INLINE_JOBS:
        return False
    queue = django_rq.get_queue("ingest")
    try:
        job = Job.fetch(ingest_job_id(batch_id), connection=queue.connection)
        status = job.get_status(refresh=False)
    except NoSuchJobError:
        return False
    if status in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED):
        return True
    if status == JobStatus.STARTED:
        # A worker SIGKILLed mid-job leaves the job "started" for ever; its heartbeat stops.
        beat = job.last_heartbeat or job.started_at
        return beat is not None and _aware(beat) >= stale_before
    return False


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def enqueue_delivery(delivery_id: int) -> None:
    """Queue one attempt of an enforcement webhook, after commit."""
    if settings.MODQUEUE_INLINE_JOBS:
        _run_after_commit(DELIVERY_JOB, delivery_id)
        return
    django_rq.get_queue("enforcement").enqueue(DELIVERY_JOB, delivery_id)
