"""Prometheus metrics (issue 11; README "Metrics", docs/deploy.md "Production layout").

Two kinds:

- Counters and the request latency histogram, counted where things happen (a decision, a
  delivery attempt, a batch that failed for good, a request). Under gunicorn every worker
  process counts on its own; with PROMETHEUS_MULTIPROC_DIR set, each writes its counts to a
  file in that directory and a scrape adds them all up (prometheus-client's multiprocess
  mode). RQ workers on the same host may share the directory, so deliveries and batch
  failures counted in their jobs show on the web's /metrics too.
- Gauges of the state in the database (queue depth, oldest age and overdue items per queue,
  the ingest lag), read at scrape time by `DatabaseCollector` with a few indexed queries:
  one answer whichever process is scraped, nothing to keep in step.

Without PROMETHEUS_MULTIPROC_DIR (`make demo`, `runserver`) it is one process's registry.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from datetime import timedelta

from django.db.models import Count, Min, Q
from django.utils import timezone
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


# --- RQ work horses in multiprocess mode -----------------------------------------------------
# An RQ worker forks a work horse for every job. Counted under its own pid, each horse would
# leave a file behind, and the directory (read whole at every scrape) would grow by one file
# per job. A worker runs one horse at a time, so its horses take turns on one file named after
# the worker instead; the worker itself counts nothing. Each horse opens the file afresh after
# the fork (prometheus-client reopens when the identifier changes), so none works from a stale
# copy of another's entries.
_rq_worker_pid: int | None = None


def rq_worker_started() -> None:
    """Called by the RQ worker process (moderation/workers.py) before it forks any horse."""
    global _rq_worker_pid
    _rq_worker_pid = os.getpid()


def _process_identifier() -> str:
    pid = os.getpid()
    if _rq_worker_pid is not None and pid != _rq_worker_pid:
        return f"rqhorse-{_rq_worker_pid}"
    return str(pid)


if multiprocess_dir():
    # Before any metric below is made: each takes its value class when it is created.
    values.ValueClass = values.MultiProcessValue(process_identifier=_process_identifier)


# --- counted where things happen ----------------------------------------------------------

DECISIONS = Counter(
    "modqueue_decisions_total",
    "Decisions recorded (first decisions, overturns, adjudications), by verdict.",
    ["verdict"],
)
DELIVERY_ATTEMPTS = Counter(
    "modqueue_delivery_attempts_total",
    "Enforcement webhook attempts, by outcome: delivered (a 2xx) or failed.",
    ["outcome"],
)
DELIVERIES_FAILED = Counter(
    "modqueue_deliveries_failed_total",
    "Enforcement deliveries given up after their last scheduled attempt.",
)
BATCHES_FAILED = Counter(
    "modqueue_batches_failed_total",
    "Inbound batches marked failed after MODQUEUE_INGEST_MAX_ATTEMPTS attempts.",
)
REQUEST_LATENCY = Histogram(
    "modqueue_http_request_duration_seconds",
    "Time to answer a request, by view, method and status class (2xx, 4xx, …).",
    ["view", "method", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


# --- read from the database at scrape time ------------------------------------------------


class DatabaseCollector:
    """Gauges of what waits, from the partial indexes on waiting items and pending batches."""

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        from moderation.models import BatchStatus, FlaggedItem, InboundBatch, ItemState
        from moderation.services import sla

        now = timezone.now()
        targets = sla.targets()
        waiting = FlaggedItem.objects.filter(state__in=[ItemState.PENDING, ItemState.ESCALATED])
        overdue = Q()
        for queue, target in targets.items():
            overdue |= Q(queue=queue, queued_at__lt=now - target)
        rows = {
            row["queue"]: row
            for row in waiting.values("queue").annotate(
                depth=Count("id"), oldest=Min("queued_at"), overdue=Count("id", filter=overdue)
            )
        }
        depth = GaugeMetricFamily(
            "modqueue_queue_depth", "Items waiting in each review queue.", labels=["queue"]
        )
        oldest = GaugeMetricFamily(
            "modqueue_queue_oldest_age_seconds",
            "How long the oldest waiting item has been in its queue (0 when empty).",
            labels=["queue"],
        )
        late = GaugeMetricFamily(
            "modqueue_queue_overdue",
            "Waiting items past their queue's service-level target.",
            labels=["queue"],
        )
        target_seconds = GaugeMetricFamily(
            "modqueue_queue_target_seconds",
            "Each queue's service-level target (time from entering it to a decision).",
            labels=["queue"],
        )
        for queue, target in targets.items():
            row = rows.get(queue)
            age = (now - row["oldest"]).total_seconds() if row and row["oldest"] else 0.0
            depth.add_metric([queue], row["depth"] if row else 0)
            oldest.add_metric([queue], max(0.0, age))
            late.add_metric([queue], row["overdue"] if row else 0)
            target_seconds.add_metric([queue], target.total_seconds())
        yield from (depth, oldest, late, target_seconds)

        pending = InboundBatch.objects.filter(status=BatchStatus.PENDING).aggregate(
            count=Count("id"), oldest=Min("received_at")
        )
        lag = now - pending["oldest"] if pending["oldest"] else timedelta(0)
        yield GaugeMetricFamily(
            "modqueue_ingest_lag_seconds",
            "Age of the oldest inbound batch not yet processed (0 when none waits).",
            value=max(0.0, lag.total_seconds()),
        )
        yield GaugeMetricFamily(
            "modqueue_batches_pending", "Inbound batches not yet processed.", value=pending["count"]
        )


class _ThisProcess:
    """The default registry of this process: its counters and process statistics."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def scrape() -> bytes:
    """The exposition text of one scrape. The registry is built per scrape: in multiprocess
    mode the collectors belong on it, not on each process's default registry."""
    registry = CollectorRegistry()
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(DatabaseCollector())
    return generate_latest(registry)
