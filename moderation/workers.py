"""The RQ worker class: django-rq's worker plus the sweeper that finds lost batches."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections
from rq import Worker

from moderation import metrics

log = logging.getLogger(__name__)


class SweepingWorker(Worker):
    """Runs our periodic tasks (the batch sweeper, expired leases) with RQ's own maintenance,
    every MODQUEUE_SWEEP_INTERVAL_SECONDS.

    RQ only runs maintenance between blocking dequeues, so the dequeue timeout is cut to the
    sweep interval; an idle worker wakes that often, which is one cheap BLPOP.
    A burst worker (`rqworker --burst`) sweeps once before it drains the queues.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("maintenance_interval", settings.MODQUEUE_SWEEP_INTERVAL_SECONDS)
        super().__init__(*args, **kwargs)
        # Before the first work horse is forked: they count into one file (moderation/metrics.py).
        metrics.rq_worker_started()

    @property
    def dequeue_timeout(self) -> int:
        return max(1, min(self.worker_ttl - 15, settings.MODQUEUE_SWEEP_INTERVAL_SECONDS))

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        from moderation import jobs

        try:
            close_old_connections()
            jobs.periodic()
        finally:
            # The work horse is forked from this process: it must not inherit a connection.
            connections.close_all()
