"""The ingest promises of CONTRACT §3, checked by breaking things for real.

A real gunicorn and real RQ workers run over the test database and a private redis-server
that the tests stop, flush and restart; workers are SIGKILLed mid-batch. Each test ends
with every item present exactly once and the batch counts right.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from standardwebhooks.webhooks import Webhook

from moderation.corpus import corpus_items
from moderation.models import BatchStatus, FlaggedItem, InboundBatch, Signal, Subject
from moderation.services.organizations import api_key_create
from tests.processes import Stack, database_url_for_tests, wait_for

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]

# Generous: on a loaded 2-core CI machine a sweep plus processing takes a few seconds.
SETTLE = 60


class Sender:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        api_key, self.secret = api_key_create(name="fault classifier", organization_slug="acme")
        self.key_id = api_key.key_id

    def post(self, payload: Any, msg_id: str | None = None) -> tuple[int, dict[str, Any]]:
        body = json.dumps(payload)
        msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
        now = datetime.now(tz=UTC)
        request = urllib.request.Request(
            f"{self.stack.base_url}/api/v1/flags/{self.key_id}",
            data=body.encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": Webhook(self.secret).sign(msg_id, now, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")


def batches(items: list[dict[str, Any]], size: int) -> list[dict[str, Any]]:
    return [{"items": items[i : i + size]} for i in range(0, len(items), size)]


def assert_exactly_once(items: list[dict[str, Any]], stack: Stack) -> None:
    expected = {item["request_id"] for item in items}

    def settled() -> bool:
        return not InboundBatch.objects.filter(status=BatchStatus.PENDING).exists()

    try:
        wait_for(settled, timeout=SETTLE, what="every batch to be processed", every=0.25)
    except AssertionError:
        raise AssertionError(stack.logs()) from None
    stored = list(FlaggedItem.objects.values_list("request_id", flat=True))
    assert len(stored) == len(set(stored)), "an item was stored twice"
    assert set(stored) == expected
    assert not InboundBatch.objects.filter(status=BatchStatus.FAILED).exists()
    counted = sum(InboundBatch.objects.values_list("created", flat=True))
    assert counted == len(expected)
    assert Signal.objects.count() == sum(len(item["signals"]) for item in items)
    # Nothing of a batch survives processing but its counts.
    assert not InboundBatch.objects.exclude(payload=None).exists()


def test_a_signed_corpus_posted_to_the_server_is_queued_exactly_once(stack):
    sender = Sender(stack)
    stack.start_worker()
    stack.start_worker()
    items = corpus_items(organization="acme")
    assert len(items) == 1680
    for item in items:
        item["user_id"] = f"{item['user_id']}@raw.example"
    answers = [
        sender.post(batch, msg_id=f"msg_corpus_{n}") for n, batch in enumerate(batches(items, 420))
    ]
    assert [status for status, _ in answers] == [202, 202, 202, 202]
    assert sum(body["received"] for _, body in answers) == 1680

    # A redelivery of a message changes nothing.
    status, body = sender.post(batches(items, 420)[0], msg_id="msg_corpus_0")
    assert status == 200 and body["duplicate"] is True
    assert_exactly_once(items, stack)
    assert Subject.objects.count() == len({item["user_id"] for item in items})
    # The raw user ids never reached the database: not in a row, not in a batch, nowhere.
    dump = subprocess.run(
        ["pg_dump", "--data-only", database_url_for_tests()],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "corpus-demo-classifier" in dump  # the dump does hold the data
    assert "@raw.example" not in dump


def test_overlapping_batches_from_many_clients_store_each_request_once(stack):
    sender = Sender(stack)
    stack.start_worker()
    stack.start_worker()
    items = corpus_items(organization="acme", count=600)
    # Every item is sent in three different messages, by concurrent clients.
    messages = (
        batches(items, 100) + batches(items[50:] + items[:50], 100) + batches(items[::-1], 100)
    )
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(sender.post, messages))
    assert {status for status, _ in answers} == {202}
    assert_exactly_once(items, stack)
    assert sum(InboundBatch.objects.values_list("duplicates", flat=True)) == 2 * len(items)


def test_the_api_accepts_while_redis_is_down_and_nothing_is_lost(stack, private_redis):
    sender = Sender(stack)
    stack.start_worker()
    items = corpus_items(organization="acme", count=300)
    private_redis.stop()

    answers = [sender.post(batch) for batch in batches(items, 100)]
    assert [status for status, _ in answers] == [202, 202, 202]
    assert InboundBatch.objects.filter(status=BatchStatus.PENDING).count() == 3
    assert FlaggedItem.objects.count() == 0

    private_redis.start()

    # A supervisor (systemd, say) restarts a worker that gave up on Redis, whenever it gives
    # up: a worker alive just now may still be on its way out. One that lives carries on.
    def supervised() -> bool:
        if not any(worker.alive for worker in stack.workers):
            stack.start_worker()
        return not InboundBatch.objects.filter(status=BatchStatus.PENDING).exists()

    wait_for(
        supervised, timeout=SETTLE, what="a supervised worker to process every batch", every=0.25
    )
    assert_exactly_once(items, stack)


def test_batches_whose_jobs_were_flushed_from_redis_are_processed_once(stack, private_redis):
    sender = Sender(stack)
    items = corpus_items(organization="acme", count=300)
    answers = [sender.post(batch) for batch in batches(items, 100)]
    assert [status for status, _ in answers] == [202, 202, 202]
    assert private_redis.llen("rq:queue:ingest") == 3

    private_redis.flushall()
    assert private_redis.llen("rq:queue:ingest") == 0
    stack.start_worker()
    assert_exactly_once(items, stack)


def _worker_holds_open_transaction() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'idle in transaction' AND pid <> pg_backend_pid() "
            # The ingest transaction's last statement before the injected sleep.
            "AND query LIKE 'INSERT INTO \"moderation_signal\"%%'"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.parametrize("victim", ["worker and work horse", "work horse only"])
def test_a_worker_killed_mid_batch_loses_nothing_and_doubles_nothing(stack, victim, worker_kind):
    if worker_kind == "in-process" and victim == "work horse only":
        pytest.skip("the in-process worker has no work horse: the job dies with the worker")
    sender = Sender(stack)
    # This worker sleeps inside the ingest transaction, after writing every row.
    doomed = stack.start_worker(MODQUEUE_FAULT_INGEST_SLEEP="30")
    items = corpus_items(organization="acme", count=500)
    status, _ = sender.post({"items": items})
    assert status == 202

    wait_for(_worker_holds_open_transaction, timeout=30, what="the worker to be mid-batch")
    # RQ's work horse calls setsid(), so it is not in the worker's process group.
    horses = _children_of(doomed.popen.pid)
    if worker_kind == "forking":
        assert horses, "the worker forked no work horse"
    else:
        assert not horses, "the in-process worker forked"
    for pid in horses:
        os.kill(pid, signal.SIGKILL)
    if victim == "worker and work horse":
        doomed.kill(signal.SIGKILL)
    wait_for(lambda: not _worker_holds_open_transaction(), timeout=30, what="the rollback")
    assert FlaggedItem.objects.count() == 0
    assert InboundBatch.objects.get().status == BatchStatus.PENDING

    if doomed.alive:
        doomed.stop()
    stack.start_worker()
    started = time.monotonic()
    assert_exactly_once(items, stack)
    assert time.monotonic() - started < SETTLE


def _children_of(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in children.read_text().split()] if children.exists() else []
