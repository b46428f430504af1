"""Health checks for load balancers and orchestrators (README, "Health checks").

`/healthz` says the process answers: no database, no Redis, no session. `/readyz` says this
instance can do its work: PostgreSQL answers, no migration is unapplied, Redis answers and an
RQ worker was seen lately; 503 with the failing checks named otherwise.

Both are for anonymous probes: no log in, no CSRF token, exempt from the role and two-factor
middlewares (accounts) and from the HTTPS redirect (SECURE_REDIRECT_EXEMPT). A failure names
its kind only (an exception's class), never a host, user or password from a URL.
"""

from __future__ import annotations

from datetime import timedelta

import django_rq
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from redis.exceptions import RedisError
from rq import Worker

OK = "ok"
NOT_USED = "not used"
# A worker heartbeats every MODQUEUE_SWEEP_INTERVAL_SECONDS (15 s) while idle, every 30 s
# (RQ's job monitoring interval) while it runs a job.
WORKER_SEEN_WITHIN = timedelta(seconds=60)
# Each statement of the database checks; connecting is bounded by connect_timeout, when
# DATABASE_URL sets it (`?connect_timeout=2`). Redis has its own 2 s connect and 5 s read
# timeouts (RQ_QUEUES in settings.py).
DATABASE_TIMEOUT_MS = 2000


@csrf_exempt
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@csrf_exempt
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {**_database_checks(), **_redis_checks()}
    ready = all(result in (OK, NOT_USED) for result in checks.values())
    return JsonResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )


def _database_checks() -> dict[str, str]:
    """PostgreSQL answers SELECT 1, and every migration on disk is applied."""
    checks = {"database": "unreachable", "migrations": "not checked: database unreachable"}
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                if connection.vendor == "postgresql":
                    cursor.execute(f"SET LOCAL statement_timeout = {DATABASE_TIMEOUT_MS}")
                cursor.execute("SELECT 1")
            checks["database"] = OK
            checks["migrations"] = "could not be read"
            executor = MigrationExecutor(connection)
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as error:
        if checks["database"] != OK:
            checks["database"] = f"unreachable ({type(error).__name__})"
        else:
            checks["migrations"] = f"could not be read ({type(error).__name__})"
        return checks
    if plan:
        first = plan[0][0]
        checks["migrations"] = f"{len(plan)} unapplied, the first {first.app_label}.{first.name}"
    else:
        checks["migrations"] = OK
    return checks


def _redis_checks() -> dict[str, str]:
    """Redis answers PING, and an RQ worker heartbeat came within WORKER_SEEN_WITHIN. Without
    REDIS_URL (the demo's in-process jobs) neither is used."""
    if settings.MODQUEUE_INLINE_JOBS:
        return {"redis": NOT_USED, "workers": NOT_USED}
    redis = django_rq.get_connection("default")
    try:
        redis.ping()
        workers = Worker.all(connection=redis)
    except RedisError as error:
        return {
            "redis": f"unreachable ({type(error).__name__})",
            "workers": "not checked: Redis unreachable",
        }
    since = timezone.now() - WORKER_SEEN_WITHIN
    seen = [w for w in workers if w.last_heartbeat is not None and w.last_heartbeat >= since]
    if not seen:
        seconds = int(WORKER_SEEN_WITHIN.total_seconds())
        return {"redis": OK, "workers": f"no worker seen in the last {seconds} s"}
    return {"redis": OK, "workers": OK}
