"""Ingest: accept a validated message durably, then turn its items into queued review items.

The request writes one batch row (end-user ids already hashed) and enqueues its job on
commit. A worker processes the batch in one transaction; the batch's status is part of
that transaction, so a crash anywhere leaves the batch pending for the sweeper and never
half-written, and processing a batch a second time finds it done.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import JSONField, Model
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from moderation import metrics, queues
from moderation.api.schema import ValidItem
from moderation.models import (
    SEVERITY_WEIGHT,
    ApiKey,
    BatchStatus,
    FlaggedItem,
    InboundBatch,
    ItemState,
    Organization,
    PolicyCategory,
    PolicySettings,
    ReviewQueue,
    Severity,
    Signal,
    Subject,
)
from moderation.services import policy, sla
from moderation.services.subjects import subject_hash

log = logging.getLogger(__name__)

# Age can lift an item by at most this much, so a backlog cannot starve a fresh critical flag
# for ever, nor an old low-score flag outrank it at once.
AGE_BONUS_PER_HOUR = 10
AGE_BONUS_MAX = 480


def item_priority(*, signals: Iterable[tuple[float, str]], age: timedelta) -> int:
    """Order within a queue: the strongest signal weighted by its category's severity, plus age.

    `signals` are (score, severity) pairs. Scores run 0..1 and weights 1..4, so the first
    term spans 0..4000 and outweighs the age bonus unless two items are close.
    """
    strongest = max(score * SEVERITY_WEIGHT[Severity(severity)] for score, severity in signals)
    hours = max(0.0, age.total_seconds() / 3600)
    return round(strongest * 1000) + min(AGE_BONUS_MAX, int(hours * AGE_BONUS_PER_HOUR))


def item_queue(*, severities: Iterable[str]) -> ReviewQueue:
    """Items that touch a critical category go to the critical queue, the rest to standard."""
    return ReviewQueue.CRITICAL if Severity.CRITICAL in severities else ReviewQueue.STANDARD


def _stored_item(item: ValidItem, received_at: datetime) -> dict[str, Any]:
    """What the batch row keeps of an item: the raw user id is replaced by its hash here."""
    user_hash = item.user_id_hash or subject_hash(
        organization_slug=item.organization, user_id=item.user_id or ""
    )
    return {
        "request_id": item.request_id,
        "organization": item.organization,
        "user_id_hash": user_hash,
        "prompt": item.prompt,
        "response": item.response,
        "model": item.model,
        "flagged_at": (item.flagged_at or received_at).isoformat(),
        "signals": [
            {"classifier": c, "category": slug, "label": label, "score": score}
            for c, slug, label, score in item.signals
        ],
        "metadata": item.metadata,
        "messages": item.messages,
        "flagged_turn": item.flagged_turn,
    }


def batch_accept(
    *, api_key: ApiKey, webhook_id: str, items: Sequence[ValidItem]
) -> tuple[InboundBatch, bool]:
    """Store a validated message and queue it; (batch, False) when the webhook-id was seen."""
    now = timezone.now()
    try:
        with transaction.atomic():
            batch = InboundBatch.objects.create(
                api_key=api_key,
                webhook_id=webhook_id,
                payload=[_stored_item(item, now) for item in items],
                received=len(items),
                received_at=now,
                enqueued_at=now,
            )
            queues.enqueue_ingest(batch.pk)
    except IntegrityError:
        # The same webhook-id delivered twice at once: the other request stored it.
        return InboundBatch.objects.get(api_key=api_key, webhook_id=webhook_id), False
    return batch, True


def batch_process(*, batch_id: str) -> InboundBatch | None:
    """Create the items of a pending batch, once. Returns None if there is nothing to do."""
    # Two batches racing on the same new request_id: the loser's insert fails; on the retry
    # it sees the winner's row and counts a duplicate.
    for attempt in range(3):
        try:
            return _batch_process_once(batch_id)
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("batch %s raced another on a request_id; retrying", batch_id)
    return None


@transaction.atomic
def _batch_process_once(batch_id: str) -> InboundBatch | None:
    batch = (
        InboundBatch.objects.select_for_update(skip_locked=True)
        .filter(pk=batch_id, status=BatchStatus.PENDING)
        .first()
    )
    if batch is None:
        return None  # processed already, failed for good, or another worker holds it
    received_at = timezone.now()
    stored: list[dict[str, Any]] = batch.payload or []

    org_ids = dict(
        Organization.objects.filter(slug__in={i["organization"] for i in stored}).values_list(
            "slug", "id"
        )
    )
    categories = {c.slug: c for c in PolicyCategory.objects.only("id", "slug", "severity")}

    # Within the batch, the first item of a request_id wins.
    unique: dict[tuple[int, str], dict[str, Any]] = {}
    for item in stored:
        unique.setdefault((org_ids[item["organization"]], item["request_id"]), item)

    existing: set[tuple[int, str]] = set()
    for org_id in {org for org, _ in unique}:
        existing.update(
            (org_id, rid)
            for rid in FlaggedItem.objects.filter(
                organization_id=org_id,
                request_id__in=[rid for org, rid in unique if org == org_id],
            ).values_list("request_id", flat=True)
        )
    fresh = [(key, item) for key, item in unique.items() if key not in existing]

    subject_ids = _subjects_ensure({(org, item["user_id_hash"]) for (org, _), item in fresh})
    # One query per organization in the batch (usually one): its exceptions in force now.
    excepted = {
        org_id: policy.exceptions_active(organization_id=org_id, now=received_at)
        for org_id in {org for org, _ in unique}
    }
    sample_rate = PolicySettings.current().audit_sample_rate if any(excepted.values()) else 0.0
    slugs = {org_id: slug for slug, org_id in org_ids.items()}

    queue_targets = sla.targets()
    rows: list[dict[str, Any]] = []
    for (org_id, request_id), item in fresh:
        flagged_at = parse_datetime(item["flagged_at"]) or received_at
        severities = [categories[s["category"]].severity for s in item["signals"]]
        state, queue, decided_at = ItemState.PENDING, item_queue(severities=severities), None
        allowed = policy.exception_covering(
            excepted[org_id], [categories[s["category"]].pk for s in item["signals"]]
        )
        if allowed is not None:
            # Every signal is in a category excepted for the organization: allowed, except
            # a sample that people check in the audit queue.
            if policy.audit_sampled(
                organization_slug=slugs[org_id], request_id=request_id, rate=sample_rate
            ):
                queue = ReviewQueue.AUDIT
            else:
                state, decided_at = ItemState.ALLOWED, received_at
        if item.get("erased"):
            # Its user's words were erased while it waited in the batch: nothing to review.
            state, decided_at = ItemState.ERASED, None
        priority = item_priority(
            signals=zip((s["score"] for s in item["signals"]), severities, strict=True),
            age=received_at - flagged_at,
        )
        rows.append(
            {
                "organization_id": org_id,
                "subject_id": subject_ids[(org_id, item["user_id_hash"])],
                "batch_id": batch.pk,
                "request_id": request_id,
                "prompt": item["prompt"],
                "response": item["response"],
                "model": item["model"],
                "metadata": item["metadata"],
                # Batches stored before conversations (v2) have neither key.
                "messages": item.get("messages"),
                "flagged_turn": item.get("flagged_turn"),
                "flagged_at": flagged_at,
                "received_at": batch.received_at,
                "priority": priority,
                "queue": queue,
                "queued_at": batch.received_at,
                "due_at": sla.due_at(
                    queued_at=batch.received_at, target=queue_targets[queue], priority=priority
                ),
                "state": state,
                "decided_at": decided_at,
                "content_erased_at": received_at if item.get("erased") else None,
            }
        )
    item_ids = items_insert(rows)
    signals_insert(
        [
            {
                "item_id": item_ids[(org_id, request_id)],
                "classifier": s["classifier"],
                "category_id": categories[s["category"]].pk,
                "label": s["label"],
                "score": s["score"],
            }
            for (org_id, request_id), item in fresh
            for s in item["signals"]
        ]
    )

    if settings.MODQUEUE_FAULT_INGEST_SLEEP:
        # Crash tests kill the worker here, with every row written but nothing committed.
        time.sleep(settings.MODQUEUE_FAULT_INGEST_SLEEP)

    batch.status = BatchStatus.PROCESSED
    batch.created = len(rows)
    batch.duplicates = len(stored) - len(rows)
    batch.payload = None  # kept until processed, no longer
    batch.processed_at = timezone.now()
    batch.last_error = ""
    batch.save(
        update_fields=["status", "created", "duplicates", "payload", "processed_at", "last_error"]
    )
    return batch


def unnest_inserts() -> bool:
    """Whether items and signals are inserted by unnest (PostgreSQL) or bulk_create."""
    return connection.vendor == "postgresql"


def items_insert(rows: list[dict[str, Any]]) -> dict[tuple[int, str], int]:
    """Insert item rows (column name → value; any other column takes its default); returns
    each new item's id by (organization id, request id).

    On PostgreSQL one `INSERT … SELECT FROM unnest(…) RETURNING`, with no model instances
    (docs/performance.md, Ingest); elsewhere (the SQLite demo) `bulk_create`, which makes the
    same rows (tests/services/test_ingest_unnest.py compares them).
    """
    if not rows:
        return {}
    if not unnest_inserts():
        created = FlaggedItem.objects.bulk_create(
            [FlaggedItem(**row) for row in rows], batch_size=500
        )
        return {(item.organization_id, item.request_id): item.pk for item in created}
    returned = _unnest_insert(FlaggedItem, rows, returning=("id", "organization_id", "request_id"))
    return {(org_id, request_id): pk for pk, org_id, request_id in returned}


def signals_insert(rows: list[dict[str, Any]]) -> None:
    """Insert signal rows, as items_insert does items."""
    if not rows:
        return
    if not unnest_inserts():
        Signal.objects.bulk_create([Signal(**row) for row in rows], batch_size=2000)
        return
    _unnest_insert(Signal, rows, returning=())


def _unnest_insert(
    model: type[Model], rows: list[dict[str, Any]], *, returning: Sequence[str]
) -> list[tuple[Any, ...]]:
    """One INSERT … SELECT FROM unnest(one array per column): PostgreSQL only.

    Every concrete column but the primary key is written: from the rows where they name it,
    else the field's default (as bulk_create would fill it in). JSON columns travel as text
    and are cast to jsonb by PostgreSQL; None stays SQL NULL, as Django stores it.
    """
    named = rows[0].keys()
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    unknown = set(named) - {f.attname for f in fields}
    if unknown:
        raise ValueError(f"{model.__name__} has no column(s) {sorted(unknown)}")
    columns, selects, casts, arrays = [], [], [], []
    for number, field in enumerate(fields):
        is_json = isinstance(field, JSONField)
        if field.attname in named:
            values = [row[field.attname] for row in rows]
        else:
            values = [field.get_db_prep_save(field.get_default(), connection)] * len(rows)
            if is_json:
                values = [field.get_default()] * len(rows)
        if isinstance(field, JSONField):
            values = [None if v is None else json.dumps(v, cls=field.encoder) for v in values]
        column = f"c{number}"
        columns.append(connection.ops.quote_name(str(field.column)))
        selects.append(f"{column}::jsonb" if is_json else column)
        casts.append(f"%s::{'text' if is_json else field.db_type(connection)}[]")
        arrays.append(values)
    table = connection.ops.quote_name(model._meta.db_table)
    statement = (
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"SELECT {', '.join(selects)} FROM unnest({', '.join(casts)}) "
        f"AS u({', '.join(f'c{n}' for n in range(len(fields)))})"
    )
    if returning:
        statement += " RETURNING " + ", ".join(connection.ops.quote_name(c) for c in returning)
    with connection.cursor() as cursor:
        cursor.execute(statement, arrays)
        return list(cursor.fetchall()) if returning else []


def _subjects_ensure(keys: set[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """Subject ids for (organization id, user id hash) pairs, creating the missing ones."""
    if not keys:
        return {}
    Subject.objects.bulk_create(
        [Subject(organization_id=org, user_id_hash=h) for org, h in keys], ignore_conflicts=True
    )
    found: dict[tuple[int, str], int] = {}
    for org_id in {org for org, _ in keys}:
        hashes = [h for org, h in keys if org == org_id]
        for pk, h in Subject.objects.filter(
            organization_id=org_id, user_id_hash__in=hashes
        ).values_list("id", "user_id_hash"):
            found[(org_id, h)] = pk
    return found


def batch_record_failure(*, batch_id: str, error: BaseException) -> None:
    """Count a failed attempt; past the limit the batch is failed and left for an admin."""
    with transaction.atomic():
        batch = (
            InboundBatch.objects.select_for_update()
            .filter(pk=batch_id, status=BatchStatus.PENDING)
            .first()
        )
        if batch is None:
            return
        batch.attempts += 1
        batch.last_error = f"{type(error).__name__}: {error}"[:2000]
        if batch.attempts >= settings.MODQUEUE_INGEST_MAX_ATTEMPTS:
            batch.status = BatchStatus.FAILED
            metrics.BATCHES_FAILED.inc()
            log.error("batch %s failed for good after %d attempts", batch_id, batch.attempts)
        batch.save(update_fields=["attempts", "last_error", "status"])


def batches_sweep(*, now: datetime | None = None, limit: int = 500) -> int:
    """Enqueue again the pending batches whose job was lost; returns how many.

    A batch counts as lost when it has been pending longer than MODQUEUE_SWEEP_STALE_SECONDS
    since it was last enqueued and Redis holds no live job for it (Redis restarted or
    flushed, a worker killed mid-job).
    """
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.MODQUEUE_SWEEP_STALE_SECONDS)
    candidates = list(
        InboundBatch.objects.filter(status=BatchStatus.PENDING, enqueued_at__lt=stale_before)
        .order_by("enqueued_at")
        .values_list("pk", flat=True)[:limit]
    )
    swept = 0
    for batch_id in candidates:
        if queues.ingest_job_alive(batch_id, stale_before=stale_before):
            continue
        InboundBatch.objects.filter(pk=batch_id, status=BatchStatus.PENDING).update(enqueued_at=now)
        queues.enqueue_ingest(batch_id)
        swept += 1
    if swept:
        log.info("sweeper enqueued %d pending batch(es) again", swept)
    return swept
