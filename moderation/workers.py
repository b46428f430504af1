"""The RQ worker classes: django-rq's worker plus the sweeper that finds lost batches.

SweepingWorker forks a work horse for every job (RQ's default). InProcessWorker runs each job
in the worker process itself (RQ's SimpleWorker): no fork and no new database connection a
job, which is about 30 ms of CPU for an ingest batch (docs/performance.md). `make worker` runs
the ingest queue on InProcessWorker and the other queues on SweepingWorker.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import close_old_connections, connections
from rq import SimpleWorker, Worker

from moderation import metrics

if TYPE_CHECKING:
    from rq.executions import Execution
    from rq.job import Job
    from rq.queue import Queue

log = logging.getLogger(__name__)


class _Sweeping:
    """Runs our periodic tasks (the batch sweeper, expired leases) with RQ's own maintenance,
    every MODQUEUE_SWEEP_INTERVAL_SECONDS.

    RQ only runs maintenance between blocking dequeues, so the dequeue timeout is cut to the
    sweep interval; an idle worker wakes that often, which is one cheap BLPOP.
    A burst worker (`rqworker --burst`) sweeps once before it drains the queues.
    """

    worker_ttl: int

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("maintenance_interval", settings.MODQUEUE_SWEEP_INTERVAL_SECONDS)
        super().__init__(*args, **kwargs)
        # Before the first work horse is forked: they count into one file (moderation/metrics.py).
        metrics.rq_worker_started()

    @property
    def dequeue_timeout(self) -> int:
        return max(1, min(self.worker_ttl - 15, settings.MODQUEUE_SWEEP_INTERVAL_SECONDS))

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()  # type: ignore[misc]
        from moderation import jobs

        try:
            close_old_connections()
            jobs.periodic()
        finally:
            self._after_maintenance()

    def _after_maintenance(self) -> None:
        # The work horse is forked from this process: it must not inherit a connection.
        connections.close_all()


class SweepingWorker(_Sweeping, Worker):
    """RQ's forking worker: each job in a work horse of its own, with its own connection."""


class InProcessWorker(_Sweeping, SimpleWorker):
    """RQ's non-forking worker: each job runs in this process.

    Database connections are handled around each job as Django handles them around a
    request: one that errored, is unusable or is older than CONN_MAX_AGE is closed before
    and after the job, so a job that raised leaves the next a sound connection (the failed
    job's transaction was rolled back by its atomic block). A job that raises is recorded
    as failed by RQ and the worker carries on; a worker killed mid-job loses its connection,
    so PostgreSQL rolls the job's transaction back and the sweeper enqueues the batch again,
    as when a work horse is killed.
    """

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        close_old_connections()
        try:
            return bool(super().perform_job(job, queue, execution))
        finally:
            close_old_connections()

    def _after_maintenance(self) -> None:
        close_old_connections()  # nothing is forked: the connection may serve the next job
