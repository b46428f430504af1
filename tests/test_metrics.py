"""GET /metrics (issue 11; README "Metrics"): Prometheus text behind a bearer token, counters
where things happen, gauges of the queues read from the database at scrape time, and, under
gunicorn with PROMETHEUS_MULTIPROC_DIR, the counts of every worker process added up."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from moderation import metrics
from moderation.api import ratelimit
from moderation.models import BatchStatus, InboundBatch, ItemState, ReviewQueue, Verdict
from moderation.services.organizations import api_key_create
from tests.factories import FlaggedItemFactory, decide
from tests.processes import Process, Redis, Stack, wait_for

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-scrape-token-0123456789"


@pytest.fixture
def token(settings: Any) -> str:
    settings.MODQUEUE_METRICS_TOKEN = TOKEN
    ratelimit._memory_failures.clear()
    return TOKEN


@pytest.fixture(autouse=True)
def _forget_failures(redis_clean: Any) -> Iterator[None]:
    ratelimit._memory_failures.clear()
    yield
    ratelimit._memory_failures.clear()


def scrape(client: Client, token: str = TOKEN) -> dict[str, float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return samples(response.content.decode())


def samples(text: str) -> dict[str, float]:
    """{'name{label="value",…}': value} of every sample, labels sorted."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}"] = sample.value
    return found


def test_it_is_not_there_without_a_token_configured(client, settings):
    settings.MODQUEUE_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_a_missing_or_wrong_token_is_401(client, token):
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer nope"}, {"HTTP_AUTHORIZATION": TOKEN}):
        response = client.get("/metrics", **headers)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"modqueue_" not in response.content


def test_failed_tokens_count_toward_the_addresss_limit(client, token, settings):
    settings.MODQUEUE_AUTH_FAILURE_LIMIT = 3
    for _ in range(3):
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    refused = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 60


def test_post_is_405(client, token):
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


def test_a_signed_in_user_without_the_token_gets_nothing(client, token, admin_user):
    client.force_login(admin_user)
    assert client.get("/metrics").status_code == 401


def test_queue_gauges_equal_the_real_counts(client, token):
    now = timezone.now()
    for queue, ages in {
        ReviewQueue.CRITICAL: [timedelta(hours=2), timedelta(minutes=5)],
        ReviewQueue.STANDARD: [timedelta(hours=3)] * 3,
    }.items():
        for age in ages:
            FlaggedItemFactory(queue=queue, queued_at=now - age)
    FlaggedItemFactory(queue=ReviewQueue.STANDARD, state=ItemState.DECIDED)
    FlaggedItemFactory(queue=ReviewQueue.ESCALATED, state=ItemState.ESCALATED, queued_at=now)
    got = scrape(client)
    assert got['modqueue_queue_depth{queue="critical"}'] == 2
    assert got['modqueue_queue_depth{queue="standard"}'] == 3
    assert got['modqueue_queue_depth{queue="escalated"}'] == 1
    assert got['modqueue_queue_depth{queue="audit"}'] == 0
    assert 2 * 3600 <= got['modqueue_queue_oldest_age_seconds{queue="critical"}'] < 2 * 3600 + 60
    assert got['modqueue_queue_oldest_age_seconds{queue="audit"}'] == 0
    # Critical's target is an hour: one of its two is past it; Standard's 24 h: none.
    assert got['modqueue_queue_overdue{queue="critical"}'] == 1
    assert got['modqueue_queue_overdue{queue="standard"}'] == 0
    assert got['modqueue_queue_target_seconds{queue="critical"}'] == 3600


def test_ingest_lag_is_the_age_of_the_oldest_pending_batch(client, token, acme):
    assert scrape(client)["modqueue_ingest_lag_seconds{}"] == 0
    api_key, _ = api_key_create(name="k", organization_slug="acme")
    now = timezone.now()
    for n, (minutes, status) in enumerate(
        [(7, BatchStatus.PENDING), (2, BatchStatus.PENDING), (60, BatchStatus.PROCESSED)]
    ):
        InboundBatch.objects.create(
            api_key=api_key,
            webhook_id=f"msg_{n}",
            status=status,
            received=1,
            received_at=now - timedelta(minutes=minutes),
        )
    got = scrape(client)
    assert 7 * 60 <= got["modqueue_ingest_lag_seconds{}"] < 7 * 60 + 30
    assert got["modqueue_batches_pending{}"] == 2


def test_a_decision_increments_its_verdicts_counter(
    client, token, reviewer, django_capture_on_commit_callbacks
):
    name = 'modqueue_decisions_total{verdict="violation"}'
    before = scrape(client).get(name, 0)
    with django_capture_on_commit_callbacks(execute=True):
        decide(FlaggedItemFactory(), Verdict.VIOLATION, reviewer=reviewer)
    assert scrape(client)[name] == before + 1


def test_a_decision_rolled_back_is_not_counted(client, token, reviewer):
    name = 'modqueue_decisions_total{verdict="no_violation"}'
    before = scrape(client).get(name, 0)
    # The test's transaction never commits: the on-commit increment never runs.
    decide(FlaggedItemFactory(), Verdict.NO_VIOLATION, reviewer=reviewer)
    assert scrape(client).get(name, 0) == before


def test_requests_are_timed_by_view_method_and_status_class(client, token):
    name = 'modqueue_http_request_duration_seconds_count{method="GET",status="2xx",view="healthz"}'
    before = scrape(client).get(name, 0)
    for _ in range(3):
        client.get("/healthz")
    client.get("/no/such/page/")
    got = scrape(client)
    assert got[name] == before + 3
    assert got.get(
        'modqueue_http_request_duration_seconds_count{method="GET",status="4xx",view="unmatched"}'
    )


def test_batches_failed_for_good_are_counted(client, token, signed_key, settings):
    from moderation.services import ingest
    from tests.conftest import make_item
    from tests.factories import accept

    settings.MODQUEUE_INGEST_MAX_ATTEMPTS = 2
    before = scrape(client).get("modqueue_batches_failed_total{}", 0)
    batch = accept(signed_key.api_key, make_item(1))
    ingest.batch_record_failure(batch_id=str(batch.pk), error=RuntimeError("boom"))
    assert scrape(client).get("modqueue_batches_failed_total{}", 0) == before
    ingest.batch_record_failure(batch_id=str(batch.pk), error=RuntimeError("boom"))
    assert scrape(client)["modqueue_batches_failed_total{}"] == before + 1


# --- gunicorn with two workers, in multiprocess mode --------------------------------------


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


@pytest.mark.django_db(transaction=True)
def test_under_gunicorn_the_counts_of_both_workers_are_summed(tmp_path: Path):
    multiproc = tmp_path / "prometheus"
    redis = Redis(tmp_path)
    redis.start()
    stack = Stack(
        redis,
        tmp_path,
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
        MODQUEUE_METRICS_TOKEN=TOKEN,
    )
    web = Process(
        "gunicorn",
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "gunicorn.conf.py",
            "moderation.wsgi:application",
            "--bind",
            f"127.0.0.1:{stack.port}",
            "--workers",
            "2",
        ],
        stack.env,
        tmp_path,
    )
    try:
        web.start()
        wait_for(
            lambda: _safe_status(f"{stack.base_url}/healthz") == 200,
            timeout=30,
            what="gunicorn to answer",
        )
        requests = 60
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(_safe_status, [f"{stack.base_url}/healthz"] * requests))
        assert statuses == [200] * requests
        # Each worker process wrote its own file: both served, both are counted.
        files = sorted(p.name for p in multiproc.glob("histogram_*.db"))
        assert len(files) == 2, files
        status, text = _get(f"{stack.base_url}/metrics", TOKEN)
        assert status == 200
        got = samples(text)
        # The first /healthz (waiting for gunicorn) and the concurrent ones, from both workers.
        key = (
            'modqueue_http_request_duration_seconds_count{method="GET",status="2xx",view="healthz"}'
        )
        assert got[key] == requests + 1
        assert got['modqueue_queue_depth{queue="critical"}'] == 0
        assert _get(f"{stack.base_url}/metrics", "wrong")[0] == 401
        # A worker killed is replaced, and what it counted still counts.
        os.kill(_a_worker_pid(multiproc), 9)
        wait_for(
            lambda: _safe_status(f"{stack.base_url}/healthz") == 200,
            timeout=30,
            what="gunicorn to answer again",
        )
        after = samples(_get(f"{stack.base_url}/metrics", TOKEN)[1])
        assert after[key] == requests + 2
    finally:
        web.stop()
        redis.stop()
        if not web.alive and "Traceback" in web.output():
            print(web.output()[-4000:])


def _safe_status(url: str) -> int:
    try:
        return _get(url)[0]
    except OSError:
        return 0


def _a_worker_pid(multiproc: Path) -> int:
    return int(next(multiproc.glob("histogram_*.db")).stem.split("_")[-1])


def test_the_scrape_registry_is_built_per_scrape_with_the_database_collector(token):
    text = metrics.scrape().decode()
    assert "modqueue_queue_depth" in text and "modqueue_decisions_total" in text


# --- RQ workers in multiprocess mode --------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_rq_work_horses_count_into_one_file_per_worker(tmp_path: Path, acme, reviewer, redis_clean):
    """Each job runs in its own forked work horse; their counts land in one file per worker
    (not one per job), and the scrape adds them up."""
    from django.conf import settings as django_settings
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    from moderation.services.organizations import enforcement_endpoint_set
    from tests.factories import SubjectFactory
    from tests.processes import database_url_for_tests
    from tests.webhooks import Receiver, receiving

    with receiving(Receiver(fail_first=100, fail_status=503)) as receiver:
        receiver.secret = enforcement_endpoint_set(
            organization=acme, url=receiver.url, allow_private=True
        )
        for _ in range(3):  # three warnings, three delivery jobs queued on commit
            decide(SubjectFactory(organization=acme), Verdict.VIOLATION, reviewer=reviewer)
        queue = django_settings.RQ_QUEUES["enforcement"]
        multiproc = tmp_path / "prometheus"
        multiproc.mkdir()
        worker = subprocess.run(
            [sys.executable, "manage.py", "rqworker", "enforcement", "--burst"],
            cwd=Path(django_settings.BASE_DIR),
            env={
                **os.environ,
                "DATABASE_URL": database_url_for_tests(),
                "REDIS_URL": f"redis://{queue['HOST']}:{queue['PORT']}/{queue['DB']}",
                "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert worker.returncode == 0, worker.stderr[-3000:]
        assert len(receiver.all()) == 3
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(multiproc))
    got = samples(generate_latest(registry).decode())
    assert got['modqueue_delivery_attempts_total{outcome="failed"}'] == 3
    horses = [p.name for p in multiproc.glob("counter_rqhorse-*.db")]
    assert len(horses) == 1, sorted(p.name for p in multiproc.iterdir())
    assert len(list(multiproc.glob("counter_*.db"))) <= 2  # the horses' and the worker's own
