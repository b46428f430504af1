"""The operations dashboard at a million items: /reports/operations/ p95 of 20 loads ≤ 300 ms.

`make bench` runs this script (not a pytest test). It rebuilds its own database with 30 days of
work: 1,000,000 items (a few thousand still waiting), a final decision on each of the others
by one of 40 reviewers, a warning delivered for one violation in ten (some failing), and a
queue sample every minute of the 30 days, all inserted with `INSERT … SELECT generate_series`,
then ANALYZE. It starts the web app as `make serve` does, signs a senior in and loads the
dashboard as production serves it: each period's snapshot computed first by the app's own
refresh (services/operations_snapshot.py `snapshots_refresh`, which the workers' sweep calls),
then 20 loads of each period (24 hours, 7 and 30 days: the target is each's p95), each after
two warm-up loads. It also prints what the snapshots cost: one refresh of each period (the
worker's time and CPU, and PostgreSQL's), and the figures computed live (the page's cold path,
with no snapshot fresh enough), in this process.
See docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from statistics import median, quantiles
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run as a plain script, it still finds the package

from tests.bench.claims import (  # noqa: E402
    PASSWORD,
    PASSWORD_VAR,
    Reviewer,
    cpu_ms,
    gunicorn,
    machine,
    used,
)

TARGET_P95_MS = 300.0
LOADS, WARMUP = 20, 2
PERIODS = ("24h", "7d", "30d")
# Times each period's figures are computed live for the cold path's figure.
LIVE_REPEATS = 3

LOAD_REVIEWERS = """
INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
    is_staff, is_active, date_joined)
SELECT '!', false, 'bench-r' || r, '', '', '', false, true, now()
FROM generate_series(1, %(reviewers)s) r"""
LOAD_SUBJECTS = """
INSERT INTO moderation_subject
    (organization_id, user_id_hash, status, violations, reviewed, created_at, updated_at)
SELECT %(org)s, encode(sha256(convert_to('bench:' || s, 'UTF8')), 'hex'), 'active', 0, 0,
       now(), now()
FROM generate_series(1, %(subjects)s) s"""
# Item i arrives (30 days × i / items) after the first; one in eight is critical. All but the
# last `waiting` are decided, 2 to 122 minutes after they came (a critical one within 2 to 62).
LOAD_ITEMS = """
INSERT INTO moderation_flaggeditem (organization_id, subject_id, request_id, prompt, response,
    model, metadata, flagged_at, received_at, priority, queued_at, due_at, queue, state,
    decided_at)
SELECT %(org)s, %(first_subject)s + (i::bigint * 7919) %% %(subjects)s, 'bench-' || i,
       'bench item ' || i, '', 'bench-model', '{}'::jsonb, t.at, t.at, 1000, t.at, t.at,
       q.queue, CASE WHEN i > %(items)s - %(waiting)s THEN 'pending' ELSE 'decided' END,
       CASE WHEN i > %(items)s - %(waiting)s THEN NULL ELSE t.at + q.wait END
FROM generate_series(1, %(items)s) i
CROSS JOIN LATERAL (
    SELECT now() - interval '30 days' * (%(items)s - i)::float / %(items)s AS at) t
CROSS JOIN LATERAL (
    SELECT CASE WHEN i %% 8 = 0 THEN 'critical' ELSE 'standard' END AS queue,
           interval '1 second' * (120 + (i::bigint * 7919) %%
               CASE WHEN i %% 8 = 0 THEN 3600 ELSE 7200 END) AS wait) q"""
LOAD_DECISIONS = """
INSERT INTO moderation_decision (item_id, reviewer_id, verdict, note, claimed_at, decided_at,
    seconds_spent, from_queue, content_seen, void_reason)
SELECT i.id, %(first_reviewer)s + i.id %% %(reviewers)s,
       CASE WHEN i.id %% 3 = 0 THEN 'violation' ELSE 'no_violation' END, '',
       i.decided_at - interval '1 second' * (10 + i.id %% 170), i.decided_at,
       10 + i.id %% 170, i.queue, true, ''
FROM moderation_flaggeditem i WHERE i.state = 'decided'"""
# A warning for one violation in ten, delivered 1 to 60 seconds after it (one in fifty failed).
LOAD_ACTIONS = """
WITH d AS MATERIALIZED (
    SELECT d.id AS decision, i.subject_id, d.decided_at, gen_random_uuid() AS action,
           d.id %% 50 = 0 AS failed
    FROM moderation_decision d JOIN moderation_flaggeditem i ON i.id = d.item_id
    WHERE d.verdict = 'violation' AND d.id %% 10 = 0),
a AS (
    INSERT INTO moderation_enforcementaction (id, subject_id, kind, state, decided_by, reason,
        review_note, categories, violations, reviewed, violation_rate, created_at,
        effective_at, status_after)
    SELECT action, subject_id, 'warn', 'taken', 'threshold', 'bench', '', '[]'::jsonb, 1, 1,
           1.0, decided_at, decided_at, '' FROM d),
b AS (
    INSERT INTO moderation_enforcementaction_basis (enforcementaction_id, decision_id)
    SELECT action, decision FROM d)
INSERT INTO moderation_delivery (action_id, organization_id, webhook_id, url, payload, status,
    attempts, created_at, delivered_at)
SELECT action, %(org)s, 'msg_' || action, 'https://platform.example/hooks', '{}'::jsonb,
       CASE WHEN failed THEN 'failed' ELSE 'delivered' END, CASE WHEN failed THEN 8 ELSE 1 END,
       decided_at + interval '1 second',
       CASE WHEN failed THEN NULL ELSE decided_at + interval '1 second' * (2 + decision %% 59) END
FROM d"""
LOAD_SAMPLES = """
INSERT INTO moderation_queuesample (taken_at, queue, depth, oldest_age_seconds, overdue)
SELECT date_trunc('minute', m), q, 20 + (extract(epoch FROM m)::bigint / 60) %% 50,
       600 + (extract(epoch FROM m)::bigint / 60) %% 3000, 0
FROM generate_series(now() - interval '30 days', now(), interval '1 minute') m
CROSS JOIN unnest(ARRAY['critical', 'standard', 'escalated', 'audit']) q"""
COUNTS = """
SELECT (SELECT count(*) FROM moderation_flaggeditem), (SELECT count(*) FROM moderation_decision),
       (SELECT count(*) FROM moderation_delivery), (SELECT count(*) FROM moderation_queuesample)"""


def manage(env: dict[str, str], *argv: str) -> None:
    command = [sys.executable, "manage.py", *argv]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"bench: manage.py {' '.join(argv)} failed:\n{done.stderr}")


def prepare(url: str, env: dict[str, str], *, items: int, waiting: int) -> None:
    """A fresh database, migrated, with a senior and 30 days of work."""
    print(f"bench: recreating {url}", flush=True)
    name = sql.Identifier(str(conninfo_to_dict(url)["dbname"]))
    with psycopg.connect(url, dbname="postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(name))
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "collectstatic", "--noinput", "-v0")
    manage(env, "add_user", "lead", "--role", "senior", "--password-env", PASSWORD_VAR)
    began = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as db:
        org = db.execute(
            "INSERT INTO moderation_organization (slug, name, enforcement_url, enforcement_secret,"
            " enforcement_allow_private, created_at) VALUES ('bench', 'Bench', '', '', false,"
            " now()) RETURNING id"
        ).fetchone()
        given: dict[str, Any] = {
            "org": org and org[0],
            "items": items,
            "waiting": waiting,
            "subjects": 10_000,
            "reviewers": 40,
        }
        db.execute(LOAD_REVIEWERS, given)
        given["first_reviewer"] = db.execute(
            "SELECT min(id) FROM auth_user WHERE username LIKE 'bench-r%%'"
        ).fetchone()[0]  # type: ignore[index]
        db.execute(LOAD_SUBJECTS, given)
        given["first_subject"] = db.execute("SELECT min(id) FROM moderation_subject").fetchone()[0]  # type: ignore[index]
        for step in (LOAD_ITEMS, LOAD_DECISIONS, LOAD_ACTIONS, LOAD_SAMPLES):
            db.execute(step, given)
        db.execute("VACUUM ANALYZE")
        counts = db.execute(COUNTS).fetchone()
    print(
        f"bench: loaded in {time.perf_counter() - began:.0f}s: {counts[0]} items, "  # type: ignore[index]
        f"{counts[1]} decisions, {counts[2]} deliveries, {counts[3]} queue samples",  # type: ignore[index]
        flush=True,
    )


@dataclass(frozen=True)
class Cost:
    """One computation's wall time, this process's CPU (Python: the worker's side) and the
    PostgreSQL backends' CPU, in ms."""

    wall: float
    app: float
    db: float

    def __str__(self) -> str:
        return f"{self.wall:7.1f} ms  CPU: app {self.app:7.1f} ms, PostgreSQL {self.db:7.1f} ms"


def app_here(env: dict[str, str]) -> None:
    """Django in this process, on the bench's database, with production settings: the
    refresh is called here as a worker calls it."""
    os.environ.update(env)
    os.environ.pop("DEBUG", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moderation.settings")
    import django

    django.setup()


def _cost(dbname: str, call: Any) -> tuple[Any, Cost]:
    began, cpu, db = time.perf_counter(), time.process_time(), cpu_ms(f" {dbname} ")
    result = call()
    wall, app = time.perf_counter() - began, time.process_time() - cpu
    return result, Cost(wall * 1000, app * 1000, used(db, cpu_ms(f" {dbname} ")))


def live_costs(dbname: str) -> dict[str, Cost]:
    """Each period's figures computed live (operations_figures, the page's cold path): the
    median of LIVE_REPEATS computations."""
    from django.db import connection
    from django.utils import timezone

    from moderation.services.operations import operations_figures

    found = {}
    for period in PERIODS:
        runs = [
            _cost(dbname, lambda p=period: operations_figures(period=p, now=timezone.now()))[1]
            for _ in range(LIVE_REPEATS)
        ]
        found[period] = Cost(
            median(c.wall for c in runs), median(c.app for c in runs), median(c.db for c in runs)
        )
    connection.close()
    return found


def refresh_snapshots(dbname: str) -> dict[str, Cost]:
    """From no snapshot, the refresh a worker's sweep makes, once per period (one period a
    call, the shortest first), each timed: the snapshots the pages then serve."""
    from django.db import connection

    from moderation.models import OperationsSnapshot
    from moderation.services.operations_snapshot import snapshots_refresh

    OperationsSnapshot.objects.all().delete()
    costs = {}
    for _ in PERIODS:
        period, cost = _cost(dbname, snapshots_refresh)
        costs[str(period)] = cost
    connection.close()
    if sorted(costs) != sorted(PERIODS):
        raise SystemExit(f"bench: the refresh computed {sorted(costs)}")
    return costs


def timed_loads(lead: Reviewer, path: str, loads: int) -> tuple[list[float], int]:
    """Seconds of each load, and how many were served from the snapshot (not computed live:
    the page says "(just now)" of figures it computed itself)."""
    for _ in range(WARMUP):
        lead.send("GET", path)
    seconds, served = [], 0
    for _ in range(loads):
        began = time.perf_counter()
        status, _, page = lead.send("GET", path)
        seconds.append(time.perf_counter() - began)
        if status != 200 or "Queues against their targets" not in page:
            raise SystemExit(f"bench: {path} answered {status}")
        served += "(just now)" not in page
    return seconds, served


def p95_ms(seconds: list[float]) -> float:
    return quantiles(seconds, n=20)[18] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000, help="items (1000000)")
    parser.add_argument("--waiting", type=int, default=3_000, help="still waiting (3000)")
    parser.add_argument("--skip-load", action="store_true", help="reuse the loaded database")
    args = parser.parse_args()
    url = os.environ.get(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/modqueue_bench_operations"
    )
    env = {**os.environ, "DATABASE_URL": url, PASSWORD_VAR: PASSWORD}
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    env.pop("DEBUG", None)  # production settings, as `make serve` runs them
    env.update(SECRET_KEY="bench-secret-key", MODQUEUE_SUBJECT_PEPPER="bench-pepper")
    load_before = os.getloadavg()[0]
    if not args.skip_load:
        prepare(url, env, items=args.items, waiting=args.waiting)
    dbname = str(conninfo_to_dict(url)["dbname"])
    app_here(env)
    print("bench: computing the figures live", flush=True)
    live = live_costs(dbname)
    print("bench: refreshing the snapshots as a worker does", flush=True)
    refresh = refresh_snapshots(dbname)
    results, served = {}, {}
    with gunicorn(env, "--workers 2", "--threads 1") as port:
        lead = Reviewer(port, "lead").login()
        for period in PERIODS:
            path = f"/reports/operations/?period={period}"
            results[period], served[period] = timed_loads(lead, path, LOADS)
    print(f"\ndate:     {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\nmachine:  {machine()}")
    print(f"load:     {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (1-minute average)")
    print(f"table:    {args.items} items over 30 days, {args.waiting} waiting")
    for period, seconds in results.items():
        cut = quantiles(seconds, n=20)
        print(
            f"{period + ':':9} /reports/operations/?period={period:4} "
            f"p50 {cut[9] * 1000:6.1f} ms  p95 {cut[18] * 1000:6.1f} ms  ({len(seconds)} loads, "
            f"{served[period]} from the snapshot)"
        )
    for period in PERIODS:
        print(f"refresh {period:4} (a worker, once per interval): {refresh[period]}")
    for period in PERIODS:
        print(f"live    {period:4} (cold path, median of {LIVE_REPEATS}):   {live[period]}")
    for period, seconds in results.items():
        p95 = p95_ms(seconds)
        met = "MET" if p95 <= TARGET_P95_MS else "NOT MET"
        print(f"TARGET operations_{period}_p95_ms: {p95:.1f} ms (target {TARGET_P95_MS:.0f}) {met}")


if __name__ == "__main__":
    main()
