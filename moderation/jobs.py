"""RQ jobs: load by id, call a service, nothing else."""

from __future__ import annotations

import logging

from moderation.services import (
    alerts,
    claims,
    deliveries,
    ingest,
    operations_snapshot,
    queue_sampler,
    rates,
    retention,
)

log = logging.getLogger(__name__)


def ingest_batch(batch_id: str) -> None:
    try:
        ingest.batch_process(batch_id=batch_id)
    except Exception as exc:
        ingest.batch_record_failure(batch_id=batch_id, error=exc)
        raise


def deliver(delivery_id: int) -> None:
    deliveries.delivery_attempt(delivery_id=delivery_id)


def periodic() -> None:
    """The workers' housekeeping, every MODQUEUE_SWEEP_INTERVAL_SECONDS: each task on its own,
    so one failing does not stop the others."""
    for task in (
        ingest.batches_sweep,
        claims.claims_expire,
        deliveries.deliveries_due,
        rates.rates_roll_forward,
        retention.retention_erase,
        # At most one row per queue a minute, however often this runs (services/queue_sampler.py).
        queue_sampler.queue_sample,
        # Only with MODQUEUE_ALERT_URL set; never raises (services/alerts.py).
        alerts.alerts_send,
        # Last, after this minute's queue sample and not delaying the alerts: at most one
        # period a run (seconds for 30 days), claimed so that one worker computes it
        # (services/operations_snapshot.py).
        operations_snapshot.snapshots_refresh,
    ):
        try:
            task()
        except Exception:
            log.exception(
                "periodic task %s failed; it runs again at the next interval", task.__name__
            )
