"""RQ jobs: load by id, call a service, nothing else."""

from __future__ import annotations

from moderation.services import ingest


def ingest_batch(batch_id: str) -> None:
    try:
        ingest.batch_process(batch_id=batch_id)
    except Exception as exc:
        ingest.batch_record_failure(batch_id=batch_id, error=exc)
        raise


def sweep() -> int:
    return ingest.batches_sweep()
