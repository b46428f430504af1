"""/healthz and /readyz (README, "Health checks"): what a load balancer asks of an instance.

Real PostgreSQL and Redis: Redis down is a port nobody listens on, a worker is an RQ worker
registered in the test Redis with a fresh or an old heartbeat. Only an unapplied migration is
stood in for, by the executor's plan: the test database cannot lose one for real.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.test import Client
from rq import Worker
from rq.utils import utcformat

from tests.test_settings import python

pytestmark = pytest.mark.django_db

CHECKS = {"database", "migrations", "redis", "workers"}


@pytest.fixture
def with_redis(settings: Any, redis_clean: Any) -> Any:
    settings.MODQUEUE_INLINE_JOBS = False
    return redis_clean


def worker(connection: Any, name: str, *, heartbeat_age: timedelta = timedelta(0)) -> Worker:
    """An RQ worker as `manage.py rqworker` registers it, its last heartbeat this old."""
    registered = Worker(["default"], connection=connection, name=name)
    registered.register_birth()
    registered.heartbeat()
    if heartbeat_age:
        beat = registered.last_heartbeat
        assert beat is not None
        connection.hset(registered.key, "last_heartbeat", utcformat(beat - heartbeat_age))
    return registered


@pytest.fixture
def live_worker(with_redis: Any) -> Iterator[Worker]:
    registered = worker(with_redis, "live")
    yield registered
    registered.register_death()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- /healthz -------------------------------------------------------------------------------


def test_healthz_answers_ok_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]


def test_healthz_answers_head_and_refuses_other_methods_without_a_csrf_token():
    client = Client(enforce_csrf_checks=True)
    assert client.head("/healthz").status_code == 200
    for method in (client.post, client.put, client.delete):
        assert method("/healthz").status_code == 405


def test_healthz_needs_no_redis(settings):
    redis = settings.RQ_QUEUES["default"]
    settings.RQ_QUEUES = {
        name: {**redis, "PORT": _closed_port()} for name in ("ingest", "enforcement", "default")
    }
    settings.MODQUEUE_INLINE_JOBS = False
    assert Client().get("/healthz").status_code == 200


# --- /readyz --------------------------------------------------------------------------------


def test_readyz_is_ready_when_everything_answers_and_a_worker_was_seen(live_worker):
    response = Client().get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "redis": "ok", "workers": "ok"},
    }
    assert "no-store" in response["Cache-Control"]


def test_readyz_without_redis_url_does_not_ask_for_redis_or_workers(settings):
    settings.MODQUEUE_INLINE_JOBS = True
    # Were Redis asked, this dead port would fail the check.
    settings.RQ_QUEUES = {
        name: {**conf, "PORT": _closed_port()} for name, conf in settings.RQ_QUEUES.items()
    }
    response = Client().get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"] == {
        "database": "ok",
        "migrations": "ok",
        "redis": "not used",
        "workers": "not used",
    }


def test_readyz_is_503_when_a_migration_is_unapplied(live_worker, monkeypatch):
    loader = MigrationLoader(None, ignore_no_migrations=True)
    pending = loader.get_migration(*sorted(loader.graph.leaf_nodes())[0])
    monkeypatch.setattr(
        MigrationExecutor, "migration_plan", lambda self, targets: [(pending, False)]
    )
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["migrations"] == (
        f"1 unapplied, the first {pending.app_label}.{pending.name}"
    )
    assert {k for k, v in body["checks"].items() if v != "ok"} == {"migrations"}


def test_readyz_is_503_when_redis_is_unreachable(with_redis, settings):
    dead_port = _closed_port()
    settings.RQ_QUEUES = {
        name: {**conf, "PORT": dead_port, "PASSWORD": "hunter2-secret"}
        for name, conf in settings.RQ_QUEUES.items()
    }
    response = Client().get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["redis"].startswith("unreachable (")
    assert checks["workers"] == "not checked: Redis unreachable"
    assert checks["database"] == checks["migrations"] == "ok"
    # Says what failed, not where or with which credentials.
    text = response.content.decode()
    assert str(dead_port) not in text and "hunter2" not in text and "127.0.0.1" not in text


def test_readyz_is_503_when_no_worker_heartbeat_came_in_the_last_minute(with_redis):
    stale = worker(with_redis, "stale", heartbeat_age=timedelta(minutes=2))
    response = Client().get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks == {
        "database": "ok",
        "migrations": "ok",
        "redis": "ok",
        "workers": "no worker seen in the last 60 s",
    }
    # The same worker, beating again, is seen.
    stale.heartbeat()
    assert Client().get("/readyz").status_code == 200


def test_readyz_is_503_with_no_worker_registered_at_all(with_redis):
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["workers"] == "no worker seen in the last 60 s"


def test_readyz_is_503_when_the_database_is_unreachable(live_worker, monkeypatch):
    from django.db import OperationalError, connection

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("connection to server at db.internal failed: password=secret")

    monkeypatch.setattr(connection, "ensure_connection", refuse)
    response = Client().get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == "unreachable (OperationalError)"
    assert checks["migrations"] == "not checked: database unreachable"
    assert "db.internal" not in response.content.decode()


def test_readyz_refuses_other_methods_without_a_csrf_token():
    client = Client(enforce_csrf_checks=True)
    assert client.post("/readyz").status_code == 405


def test_readyz_names_every_check(live_worker):
    assert set(Client().get("/readyz").json()["checks"]) == CHECKS


# --- reachable by an anonymous probe, whoever else is signed in ------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_a_signed_in_user_who_must_set_up_two_factor_is_not_redirected(
    path, settings, reviewer_client, live_worker
):
    settings.MODQUEUE_2FA_REQUIRED_ROLES = ["reviewer", "senior", "admin"]
    assert reviewer_client.get(path).status_code == 200


# Settings are read at import: a fresh Python under MODQUEUE_HTTPS=true asks Django's own
# SecurityMiddleware which plain-HTTP requests it would redirect to HTTPS.
REDIRECTS_UNDER_HTTPS = """
import json, django
django.setup()
from django.http import HttpResponse
from django.middleware.security import SecurityMiddleware
from django.test import RequestFactory
middleware = SecurityMiddleware(lambda request: HttpResponse())
print(json.dumps({
    path: middleware.process_request(RequestFactory().get(path)) is not None
    for path in ("/healthz", "/readyz", "/queue/", "/accounts/login/", "/healthz/x")
}))
"""


def test_plain_http_is_not_redirected_under_modqueue_https():
    done = python(
        "-c",
        REDIRECTS_UNDER_HTTPS,
        MODQUEUE_HTTPS="true",
        ALLOWED_HOSTS="testserver",
        SECRET_KEY="a-production-secret",
        MODQUEUE_SUBJECT_PEPPER="a-production-pepper",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "/healthz": False,
        "/readyz": False,
        "/queue/": True,
        "/accounts/login/": True,
        "/healthz/x": True,
    }


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_the_exempt_paths_answer_over_plain_http(path, settings, live_worker):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    assert Client().get(path).status_code == 200
    assert Client().get("/accounts/login/").status_code == 301
