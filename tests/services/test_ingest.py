"""The ingest service: accept a message durably, turn it into queued review items exactly once."""

from __future__ import annotations

import signal as signal_module
import uuid
from datetime import timedelta
from typing import Any

import django_rq
import pytest
from django.apps import apps
from django.db import connection, transaction
from django.utils import timezone
from rq.job import Job, JobStatus

from moderation import jobs, selectors
from moderation.api.schema import validate_items
from moderation.models import (
    ApiKey,
    BatchStatus,
    FlaggedItem,
    InboundBatch,
    Organization,
    PolicyCategory,
    ReviewQueue,
    Severity,
    Signal,
    Subject,
)
from moderation.queues import ingest_job_id
from moderation.services import ingest
from moderation.services.ingest import (
    AGE_BONUS_MAX,
    batch_accept,
    batch_process,
    batch_record_failure,
    batches_sweep,
    item_priority,
    item_queue,
)
from moderation.services.subjects import subject_hash
from moderation.workers import SweepingWorker
from tests.conftest import make_item

pytestmark = pytest.mark.django_db


def accept(api_key: ApiKey, *items: dict[str, Any], webhook_id: str | None = None) -> InboundBatch:
    """What the flags view does once a message is signed: validate, then batch_accept."""
    key_org = api_key.organization.slug if api_key.organization else None
    valid, errors = validate_items(
        {"items": list(items)},
        key_organization=key_org,
        organizations=set(Organization.objects.values_list("slug", flat=True)),
        category_for_label=selectors.category_labels(),
    )
    assert not errors, errors
    batch, created = batch_accept(
        api_key=api_key, webhook_id=webhook_id or f"msg_{uuid.uuid4().hex}", items=valid
    )
    assert created
    return batch


def accept_and_process(api_key: ApiKey, *items: dict[str, Any]) -> InboundBatch:
    batch = accept(api_key, *items)
    processed = batch_process(batch_id=str(batch.pk))
    assert processed is not None
    return processed


def signal(category: str, score: float) -> list[dict[str, Any]]:
    return [{"classifier": "clf", "category": category, "score": score}]


def ingest_queue() -> Any:
    return django_rq.get_queue("ingest")


# --- Items and duplicates ----------------------------------------------------------------


def test_it_turns_each_item_of_a_batch_into_a_pending_item(signed_key):
    batch = accept_and_process(signed_key.api_key, *(make_item(n) for n in range(5)))
    assert batch.status == BatchStatus.PROCESSED
    assert (batch.received, batch.created, batch.duplicates) == (5, 5, 0)
    assert batch.processed_at is not None
    items = FlaggedItem.objects.filter(batch=batch)
    assert sorted(items.values_list("request_id", flat=True)) == [f"req_{n:04d}" for n in range(5)]
    first = items.get(request_id="req_0000")
    assert first.state == "pending"
    assert first.organization.slug == "acme"
    assert first.prompt == make_item(0)["prompt"]
    assert first.response == "I can't help with that."
    assert first.model == "claude-sonnet"
    assert first.metadata == {"surface": "api"}


def test_it_creates_one_item_per_request_id_within_a_batch(signed_key):
    batch = accept_and_process(
        signed_key.api_key,
        make_item(1, prompt="first"),
        make_item(1, prompt="second"),
        make_item(2),
        make_item(1, prompt="third"),
    )
    assert (batch.received, batch.created, batch.duplicates) == (4, 2, 2)
    assert FlaggedItem.objects.count() == 2
    # The first delivery of a request_id wins.
    assert FlaggedItem.objects.get(request_id="req_0001").prompt == "first"


def test_it_creates_one_item_per_request_id_across_batches(signed_key):
    accept_and_process(signed_key.api_key, make_item(1), make_item(2))
    again = accept_and_process(signed_key.api_key, make_item(2), make_item(3), make_item(1))
    assert (again.received, again.created, again.duplicates) == (3, 1, 2)
    assert FlaggedItem.objects.count() == 3
    assert FlaggedItem.objects.get(request_id="req_0003").batch == again


def test_the_same_request_id_in_two_organizations_is_two_items(unbound_key):
    batch = accept_and_process(
        unbound_key.api_key,
        make_item(1, organization="acme"),
        make_item(1, organization="globex"),
    )
    assert (batch.created, batch.duplicates) == (2, 0)
    slugs = FlaggedItem.objects.values_list("organization__slug", flat=True)
    assert sorted(slugs) == ["acme", "globex"]


def test_it_takes_flagged_at_from_the_item_or_else_the_time_of_receipt(signed_key):
    before = timezone.now()
    accept_and_process(
        signed_key.api_key,
        make_item(1, flagged_at="2026-01-02T03:04:05+02:00"),
        make_item(2),
    )
    given = FlaggedItem.objects.get(request_id="req_0001").flagged_at
    assert given.isoformat() == "2026-01-02T01:04:05+00:00"
    assert FlaggedItem.objects.get(request_id="req_0002").flagged_at >= before


def test_it_answers_a_seen_webhook_id_with_the_first_batch(signed_key):
    first = accept(signed_key.api_key, make_item(1), webhook_id="msg_once")
    valid, _ = validate_items(
        {"items": [make_item(2)]},
        key_organization="acme",
        organizations={"acme"},
        category_for_label=selectors.category_labels(),
    )
    again, created = batch_accept(api_key=signed_key.api_key, webhook_id="msg_once", items=valid)
    assert not created
    assert again.pk == first.pk
    assert InboundBatch.objects.count() == 1


# --- Subjects and signals ----------------------------------------------------------------


def test_it_creates_subjects_and_reuses_them(signed_key):
    accept_and_process(
        signed_key.api_key,
        make_item(1, user_id="u-a"),
        make_item(2, user_id="u-a"),
        make_item(3, user_id="u-b"),
    )
    assert Subject.objects.count() == 2
    a = Subject.objects.get(user_id_hash=subject_hash(organization_slug="acme", user_id="u-a"))
    assert a.items.count() == 2
    assert a.status == "active" and (a.violations, a.reviewed) == (0, 0)

    accept_and_process(signed_key.api_key, make_item(4, user_id="u-a"), make_item(5, user_id="u-c"))
    assert Subject.objects.count() == 3
    assert a.items.count() == 3


def test_it_keeps_a_given_user_id_hash_as_the_subject(signed_key):
    given = "0123456789abcdef" * 4
    payload = make_item(1)
    del payload["user_id"]
    accept_and_process(signed_key.api_key, {**payload, "user_id_hash": given})
    assert FlaggedItem.objects.get().subject.user_id_hash == given


def test_one_user_id_in_two_organizations_is_two_subjects(unbound_key):
    accept_and_process(
        unbound_key.api_key,
        make_item(1, organization="acme", user_id="u-same"),
        make_item(2, organization="globex", user_id="u-same"),
    )
    hashes = dict(Subject.objects.values_list("organization__slug", "user_id_hash"))
    assert hashes == {
        "acme": subject_hash(organization_slug="acme", user_id="u-same"),
        "globex": subject_hash(organization_slug="globex", user_id="u-same"),
    }
    assert hashes["acme"] != hashes["globex"]


def test_it_stores_signals_with_the_category_slug_and_the_label_as_sent(signed_key):
    accept_and_process(
        signed_key.api_key,
        make_item(
            1,
            signals=[
                {"classifier": "corpus", "category": "V2", "score": 0.8},
                {"classifier": "corpus", "category": "hate", "score": 0.4},
                {"classifier": "other-model", "category": "S3", "score": 0.97},
            ],
        ),
    )
    stored = {
        (s.classifier, s.category.slug, s.label, s.score)
        for s in Signal.objects.select_related("category")
    }
    assert stored == {
        ("corpus", "violence", "V2", 0.8),
        ("corpus", "hate", "hate", 0.4),
        ("other-model", "child-safety", "S3", 0.97),
    }


def test_it_empties_the_payload_once_processed(signed_key):
    batch = accept(signed_key.api_key, make_item(1), make_item(2))
    assert len(InboundBatch.objects.get(pk=batch.pk).payload) == 2
    batch_process(batch_id=str(batch.pk))
    assert InboundBatch.objects.get(pk=batch.pk).payload is None


def columns_holding(text: str) -> list[str]:
    """Every column of every table of the app, JSON included, cast to text and searched."""
    found = []
    with connection.cursor() as cursor:
        for model in apps.get_app_config("moderation").get_models():
            table = connection.ops.quote_name(model._meta.db_table)
            for field in model._meta.concrete_fields:
                column = connection.ops.quote_name(field.column)
                cursor.execute(
                    f"SELECT count(*) FROM {table} WHERE CAST({column} AS text) LIKE %s",
                    [f"%{text}%"],
                )
                if cursor.fetchone()[0]:
                    found.append(f"{model._meta.db_table}.{field.column}")
    return found


def test_it_never_stores_the_raw_user_id_anywhere(unbound_key):
    raw = "alice.raw-id-7f3a@example.com"
    batch = accept(
        unbound_key.api_key,
        make_item(1, organization="acme", user_id=raw),
        make_item(2, organization="globex", user_id=raw),
    )
    assert columns_holding(raw) == []
    batch_process(batch_id=str(batch.pk))
    assert FlaggedItem.objects.count() == 2
    assert columns_holding(raw) == []
    # The search does find what is stored: the prompt, and the hash in its subject row.
    assert columns_holding("variant 1") == ["moderation_flaggeditem.prompt"]
    assert "moderation_subject.user_id_hash" in columns_holding(
        subject_hash(organization_slug="acme", user_id=raw)
    )


# --- Priority and routing ----------------------------------------------------------------


def test_a_higher_score_comes_first():
    fresh = timedelta(0)
    assert item_priority(signals=[(0.9, "high")], age=fresh) > item_priority(
        signals=[(0.6, "high")], age=fresh
    )


def test_a_higher_severity_comes_first_at_the_same_score():
    fresh = timedelta(0)
    ranks = [item_priority(signals=[(0.8, s.value)], age=fresh) for s in Severity]
    assert ranks == sorted(ranks) and len(set(ranks)) == 4


def test_the_strongest_signal_sets_the_priority():
    fresh = timedelta(0)
    mixed = item_priority(signals=[(0.2, "low"), (0.9, "critical"), (0.5, "medium")], age=fresh)
    assert mixed == item_priority(signals=[(0.9, "critical")], age=fresh)


def test_age_lifts_priority_by_a_bounded_amount():
    def at(hours: float) -> int:
        return item_priority(signals=[(0.5, "medium")], age=timedelta(hours=hours))

    assert at(0) < at(1) < at(10)
    assert at(24 * 365) - at(0) == AGE_BONUS_MAX
    assert at(24 * 365) == at(24 * 30)
    # A clock a little ahead (flagged_at after receipt) earns no negative bonus.
    assert at(-1) == at(0)


def test_a_fresh_critical_flag_outranks_any_backlog_of_low_ones():
    oldest_low = item_priority(signals=[(1.0, "low")], age=timedelta(days=365))
    fresh_critical = item_priority(signals=[(0.5, "critical")], age=timedelta(0))
    assert fresh_critical > oldest_low


def test_it_routes_critical_severities_to_the_critical_queue():
    assert item_queue(severities=["critical"]) == ReviewQueue.CRITICAL
    assert item_queue(severities=["low", "critical"]) == ReviewQueue.CRITICAL
    assert item_queue(severities=["high", "medium", "low"]) == ReviewQueue.STANDARD


def test_processed_items_are_routed_and_ordered_for_review(signed_key):
    accept_and_process(
        signed_key.api_key,
        make_item(1, signals=signal("harassment", 0.9)),
        make_item(2, signals=signal("S3", 0.6)),
        make_item(3, signals=signal("violence", 0.95)),
        make_item(4, signals=signal("other", 0.99)),
        make_item(5, signals=[*signal("hate", 0.3), *signal("weapons", 0.7)]),
    )
    queues = dict(FlaggedItem.objects.values_list("request_id", "queue"))
    assert queues == {
        "req_0001": "standard",
        "req_0002": "critical",
        "req_0003": "standard",
        "req_0004": "standard",
        "req_0005": "critical",
    }
    # score × severity weight (critical 4, high 3, medium 2, low 1): 2.85, 2.8, 2.4, 1.8, 0.99
    order = [i.request_id for i in selectors.pending_items()]
    assert order == ["req_0003", "req_0005", "req_0002", "req_0001", "req_0004"]
    assert [i.request_id for i in selectors.pending_items(queue="critical")] == [
        "req_0005",
        "req_0002",
    ]


def test_an_older_flag_gets_its_age_bonus_when_processed(signed_key):
    old = (timezone.now() - timedelta(hours=5)).isoformat()
    accept_and_process(
        signed_key.api_key,
        make_item(1, signals=signal("violence", 0.5)),
        make_item(2, signals=signal("violence", 0.5), flagged_at=old),
    )
    fresh, aged = (FlaggedItem.objects.get(request_id=r).priority for r in ("req_0001", "req_0002"))
    assert aged - fresh == 50


# --- Exactly once ------------------------------------------------------------------------


def test_processing_a_batch_twice_is_a_no_op(signed_key):
    batch = accept(signed_key.api_key, make_item(1), make_item(1), make_item(2))
    first = batch_process(batch_id=str(batch.pk))
    assert first is not None and (first.created, first.duplicates) == (2, 1)
    assert batch_process(batch_id=str(batch.pk)) is None
    assert FlaggedItem.objects.count() == 2
    assert Signal.objects.count() == 2
    again = InboundBatch.objects.get(pk=batch.pk)
    assert (again.status, again.created, again.duplicates) == ("processed", 2, 1)


def test_processing_an_unknown_batch_does_nothing(db):
    assert batch_process(batch_id=str(uuid.uuid4())) is None


@pytest.mark.parametrize("size", [10, 200])
def test_processing_takes_the_same_number_of_queries_at_any_batch_size(
    signed_key, django_assert_num_queries, size
):
    # Warm the one-off caches (content types and the like) so only the processing is counted.
    accept_and_process(signed_key.api_key, make_item(10_000))
    batch = accept(
        signed_key.api_key,
        *(make_item(n, signals=[*signal("violence", 0.5), *signal("H", 0.7)]) for n in range(size)),
    )
    # select the batch, organizations, categories, existing request_ids, subjects (insert and
    # select), the organization's policy exceptions, items, signals, batch update; and the
    # savepoint around them.
    with django_assert_num_queries(12):
        batch_process(batch_id=str(batch.pk))
    assert FlaggedItem.objects.filter(batch=batch).count() == size
    assert Signal.objects.filter(item__batch=batch).count() == 2 * size


# --- Failures ----------------------------------------------------------------------------


def break_processing(signed_key: Any) -> InboundBatch:
    """A batch that cannot be processed: its category was deleted after it was accepted."""
    PolicyCategory.objects.create(slug="spam", name="Spam", severity="low")
    batch = accept(signed_key.api_key, make_item(1, signals=signal("spam", 0.9)))
    PolicyCategory.objects.filter(slug="spam").delete()
    return batch


def test_a_failing_batch_counts_its_attempts_and_stays_pending(signed_key):
    batch = break_processing(signed_key)
    with pytest.raises(KeyError):
        jobs.ingest_batch(str(batch.pk))
    batch.refresh_from_db()
    assert batch.status == BatchStatus.PENDING
    assert batch.attempts == 1
    assert batch.last_error == "KeyError: 'spam'"
    assert FlaggedItem.objects.count() == 0


def test_a_batch_fails_for_good_after_the_maximum_attempts(signed_key, settings):
    settings.MODQUEUE_INGEST_MAX_ATTEMPTS = 3
    batch = break_processing(signed_key)
    for _ in range(3):
        with pytest.raises(KeyError):
            jobs.ingest_batch(str(batch.pk))
    batch.refresh_from_db()
    assert (batch.status, batch.attempts) == (BatchStatus.FAILED, 3)
    # Left for an admin: neither processed nor counted again.
    jobs.ingest_batch(str(batch.pk))
    batch_record_failure(batch_id=str(batch.pk), error=RuntimeError("late"))
    batch.refresh_from_db()
    assert (batch.status, batch.attempts, batch.last_error) == ("failed", 3, "KeyError: 'spam'")
    assert batch.payload is not None


def test_recording_a_failure_leaves_a_processed_batch_alone(signed_key):
    batch = accept_and_process(signed_key.api_key, make_item(1))
    batch_record_failure(batch_id=str(batch.pk), error=RuntimeError("stray"))
    batch.refresh_from_db()
    assert (batch.status, batch.attempts, batch.last_error) == ("processed", 0, "")


# --- Enqueueing and the sweeper (real Redis) ---------------------------------------------


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


def make_stale(batch: InboundBatch, minutes: int = 10) -> None:
    InboundBatch.objects.filter(pk=batch.pk).update(
        enqueued_at=timezone.now() - timedelta(minutes=minutes)
    )


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


# --- Workers (real Redis, real forked work horses) ---------------------------------------


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
