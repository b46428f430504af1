"""Ingest throughput: the flags API and its workers, against a bare psycopg INSERT of the same rows.

`make bench` runs this script (not a pytest test). It rebuilds the bench database and Redis db,
starts the production stack as `make serve` and `make worker` do, posts the shipped corpus as
signed 500-item batches and times first request sent to last item stored. It then inserts the
very rows the app stored into a twin table with plain executemany, and reports app/bare against
the target ratio of 0.5. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import redis
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb
from standardwebhooks.webhooks import Webhook

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run as a plain script, it still finds the package

from moderation.corpus import corpus_items  # noqa: E402

BATCH_SIZE = 500  # CONTRACT §3: the most items one request may carry
MAX_BODY = 1024 * 1024  # CONTRACT §3: the most bytes one request may carry
TARGET_RATIO = 0.5
BARE_RUNS = 3  # a bare run takes seconds: its median is cheap and tames a noisy machine
ORGANIZATION, WARMUP_ORGANIZATION = "bench", "bench-warmup"
Db = psycopg.Connection[Any]

BATCH_COUNTS = """
SELECT count(*), count(*) FILTER (WHERE status = 'processed'),
       count(*) FILTER (WHERE status = 'failed'), coalesce(sum(created), 0),
       coalesce(sum(duplicates), 0)
FROM moderation_inboundbatch b JOIN moderation_apikey k ON k.id = b.api_key_id
WHERE k.key_id = %s"""
ITEM_COUNTS = """
SELECT count(DISTINCT i.id), count(DISTINCT i.request_id), count(s.id)
FROM moderation_flaggeditem i LEFT JOIN moderation_signal s ON s.item_id = i.id
WHERE i.organization_id = %s"""
# Every column but `id`, read from the table, so that columns added later are copied too.
ITEM_COLUMNS = """
SELECT column_name, data_type = 'jsonb' FROM information_schema.columns
WHERE table_name = 'moderation_flaggeditem' AND column_name <> 'id' ORDER BY ordinal_position"""
ITEM_FOREIGN_KEYS = """
SELECT pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = 'moderation_flaggeditem'::regclass AND contype = 'f'"""


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.01)  # also the resolution of the end time: 10 ms in a run of seconds


def answers(port: int, processes: list[subprocess.Popen[bytes]]) -> bool:
    if any(process.poll() is not None for process in processes):
        raise SystemExit("bench: a server process exited early; see its log")
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/accounts/login/")
        return connection.getresponse().status == 200
    except OSError:
        return False


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    # A session of its own, so that stop() reaches the RQ work horse, its worker's child.
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def bench_items(count: int, organization: str) -> list[dict[str, Any]]:
    """`count` corpus items; each pass over the 1,680 samples has its own seed, so its own ids."""
    items: list[dict[str, Any]] = []
    seed = 0
    while len(items) < count:
        seed += 1
        items += corpus_items(organization=organization, seed=seed, prefix=organization)
    return items[:count]


def batch_bodies(items: list[dict[str, Any]], size: int = BATCH_SIZE) -> list[str]:
    bodies = [json.dumps({"items": items[i : i + size]}) for i in range(0, len(items), size)]
    if max(len(body.encode()) for body in bodies) > MAX_BODY:
        raise SystemExit("bench: a batch is over 1 MiB; the corpus changed, lower BATCH_SIZE")
    return bodies


def post_signed(port: int, key: dict[str, str], msg_id: str, body: str) -> None:
    """POST one signed message as an upstream would, waiting out 429s; anything but 202 fails."""
    while True:
        now = datetime.now(UTC)  # signed at send time: the server allows 5 minutes of skew
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(key["secret"]).sign(msg_id, now, body),
        }
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            connection.request("POST", key["ingest_url"], body=body.encode(), headers=headers)
            response = connection.getresponse()
            answer = response.read()
        finally:
            connection.close()
        if response.status == 202:
            return
        if response.status != 429:
            raise RuntimeError(f"{msg_id}: HTTP {response.status} {answer[:300]!r}")
        time.sleep(float(response.getheader("Retry-After") or 1))


def send_all(port: int, key: dict[str, str], bodies: list[str], clients: int) -> None:
    """Post every body from `clients` threads, each taking the next body when it is free."""
    messages = [(f"msg_{key['key_id']}_{index:06d}", body) for index, body in enumerate(bodies)]
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda message: post_signed(port, key, *message), messages))


def all_processed(db: Db, key: dict[str, str], expected: int) -> bool:
    _, processed, failed, _, _ = db.execute(BATCH_COUNTS, [key["key_id"]]).fetchone() or ()
    if failed:
        raise SystemExit(f"bench: {failed} batch(es) failed; see the worker logs")
    return bool(processed >= expected)


def verify(db: Db, key: dict[str, str], org_id: int, items: list[dict[str, Any]]) -> None:
    """Every item exactly once, every batch processed, every signal kept: else fail loudly."""
    requests, signals = -(-len(items) // BATCH_SIZE), sum(len(i["signals"]) for i in items)
    got = list(db.execute(ITEM_COUNTS, [org_id]).fetchone() or ())
    got += db.execute(BATCH_COUNTS, [key["key_id"]]).fetchone() or ()
    want = [len(items), len(items), signals, requests, requests, 0, len(items), 0]
    names = "items,distinct request ids,signals,batches,processed,failed,created,duplicates"
    checks = zip(names.split(","), got, want, strict=True)
    problems = [f"{name} {value} != {wanted}" for name, value, wanted in checks if value != wanted]
    if problems:
        raise SystemExit("bench: FAILED verification: " + "; ".join(problems))


def checkpoint(db: Db) -> None:
    """Start each timed phase with no dirty pages left over by the one before it."""
    try:
        db.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        pass  # not a superuser: the phases then share whatever is pending


def bare_rates(db: Db, org_id: int, *, foreign_keys: bool) -> list[float]:
    """items/s of INSERT … ON CONFLICT DO NOTHING of the app's own rows, 500 per transaction.

    `db` is in autocommit mode, so each `transaction()` block is one real transaction.
    """
    columns = db.execute(ITEM_COLUMNS).fetchall()
    names = sql.SQL(", ").join(sql.Identifier(name) for name, _ in columns)
    select = sql.SQL("SELECT {} FROM moderation_flaggeditem WHERE organization_id = %s ORDER BY id")
    rows = [
        [
            Jsonb(value) if is_json else value
            for value, (_, is_json) in zip(row, columns, strict=True)
        ]
        for row in db.execute(select.format(names), [org_id])
    ]
    insert = sql.SQL("INSERT INTO bench_bare ({}) VALUES ({}) ON CONFLICT DO NOTHING").format(
        names, sql.SQL(", ").join(sql.Placeholder() * len(columns))
    )
    rates = []
    for _ in range(BARE_RUNS):
        # INCLUDING ALL copies every index (the unique one the conflict needs among them) and
        # gives `id` an identity sequence of its own; LIKE never copies foreign keys.
        db.execute("DROP TABLE IF EXISTS bench_bare")
        db.execute("CREATE TABLE bench_bare (LIKE moderation_flaggeditem INCLUDING ALL)")
        for (definition,) in db.execute(ITEM_FOREIGN_KEYS).fetchall() if foreign_keys else []:
            db.execute(sql.SQL("ALTER TABLE bench_bare ADD {}").format(sql.SQL(definition)))
        checkpoint(db)
        started = time.perf_counter()
        for start in range(0, len(rows), BATCH_SIZE):
            with db.transaction(), db.cursor() as cursor:
                cursor.executemany(insert, rows[start : start + BATCH_SIZE])
        rates.append(len(rows) / (time.perf_counter() - started))
        stored = (db.execute("SELECT count(*) FROM bench_bare").fetchone() or (0,))[0]
        if stored != len(rows):
            raise SystemExit(f"bench: the bare baseline stored {stored} rows, not {len(rows)}")
    db.execute("DROP TABLE bench_bare")
    return rates


def runs(rates: list[float]) -> str:
    return f"median of {', '.join(f'{rate:.0f}' for rate in rates)}"


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":")[1].strip() for line in cpuinfo if "model name" in line), "?")
    memory = Path("/proc/meminfo").read_text().split()
    ram = int(memory[memory.index("MemTotal:") + 1]) / 1024**2
    return f"{len(os.sched_getaffinity(0))} cores (nproc), {cpu}, {ram:.1f} GiB RAM"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000, help="items to ingest (20000)")
    parser.add_argument("--clients", type=int, default=4, help="client threads (4)")
    web = int(os.environ.get("WEB_CONCURRENCY") or 4)
    parser.add_argument("--web-workers", type=int, default=web, help="as make serve (4)")
    rq = int(os.environ.get("WORKERS") or 2)
    parser.add_argument("--workers", type=int, default=rq, help="RQ workers, as make worker (2)")
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1/modqueue_bench")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14")
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    env.pop("DEBUG", None)  # production settings, as `make serve` runs them
    env.update(SECRET_KEY="bench-secret-key", MODQUEUE_SUBJECT_PEPPER="bench-pepper")
    load_before = os.getloadavg()[0]

    print(f"bench: recreating {database_url}, flushing {redis_url}", flush=True)
    name = sql.Identifier(conninfo_to_dict(database_url)["dbname"])
    with psycopg.connect(database_url, dbname="postgres", autocommit=True) as admin:
        # FORCE: a stack left over by an interrupted run may still be connected.
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(name))
    redis.Redis.from_url(redis_url).flushdb()

    def manage(*argv: str) -> str:
        command = [sys.executable, "manage.py", *argv]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"bench: manage.py {' '.join(argv)} failed:\n{done.stderr}")
        return done.stdout

    manage("migrate", "--noinput", "-v0")
    manage("collectstatic", "--noinput", "-v0")
    key = json.loads(manage("create_api_key", "bench", "--organization", ORGANIZATION))
    warmup_key = json.loads(manage("create_api_key", "w", "--organization", WARMUP_ORGANIZATION))
    items = bench_items(args.items, ORGANIZATION)
    bodies = batch_bodies(items)
    # Small batches first, so that every gunicorn worker has loaded its views and every process
    # is up: the figure is the steady state of a running service, not its start.
    warmup = batch_bodies(bench_items(4 * args.web_workers, WARMUP_ORGANIZATION), size=2)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port, log_dir = sock.getsockname()[1], Path(tempfile.mkdtemp(prefix="modqueue-bench-"))
    gunicorn = f"moderation.wsgi:application --bind 127.0.0.1:{port} --workers {args.web_workers}"
    gunicorn += " --access-logfile - --graceful-timeout 10"  # the rest of `make serve`
    rqworker = [sys.executable, "manage.py", "rqworker", "ingest", "enforcement", "default"]
    print(
        f"bench: {len(items)} items in {len(bodies)} requests from {args.clients} clients; "
        f"gunicorn --workers {args.web_workers}, {args.workers} RQ workers; logs in {log_dir}",
        flush=True,
    )
    processes: list[subprocess.Popen[bytes]] = []
    with psycopg.connect(database_url, autocommit=True) as db:
        try:
            executable = str(Path(sys.executable).with_name("gunicorn"))
            processes.append(spawn([executable, *gunicorn.split()], env, log_dir / "web.log"))
            for number in range(args.workers):
                processes.append(spawn(rqworker, env, log_dir / f"worker-{number}.log"))
            wait_for(lambda: answers(port, processes), timeout=60, what="gunicorn to answer")
            send_all(port, warmup_key, warmup, args.web_workers)
            wait_for(
                lambda: all_processed(db, warmup_key, len(warmup)), timeout=120, what="warm-up"
            )
            checkpoint(db)
            started = time.perf_counter()
            send_all(port, key, bodies, args.clients)
            accepted = time.perf_counter() - started
            wait_for(lambda: all_processed(db, key, len(bodies)), timeout=600, what="the workers")
            elapsed = time.perf_counter() - started
        finally:
            stop(processes)
        org = db.execute("SELECT id FROM moderation_organization WHERE slug = %s", [ORGANIZATION])
        org_id = (org.fetchone() or (0,))[0]
        verify(db, key, org_id, items)
        print(
            f"bench: app stored {len(items)} items in {elapsed:.2f}s, each exactly once "
            f"(all {len(bodies)} requests answered 202 after {accepted:.2f}s)",
            flush=True,
        )
        twin = bare_rates(db, org_id, foreign_keys=True)
        no_fk = bare_rates(db, org_id, foreign_keys=False)

    app, bare, bare_no_fk = len(items) / elapsed, statistics.median(twin), statistics.median(no_fk)
    load = f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    print(f"\ndate:    {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine()}")
    print(f"load:    {load} (1-min average; compare figures only from an idle machine)")
    print(f"app:     {app:6.0f} items/s  signed HTTP batches of 500, first sent to last stored")
    print(f"bare:    {bare:6.0f} items/s  INSERT … ON CONFLICT DO NOTHING, 500 a transaction, into")
    print(f"                         a twin with the same indexes and foreign keys ({runs(twin)})")
    print(
        f"no FKs:  {bare_no_fk:6.0f} items/s  the same, twin without foreign keys ({runs(no_fk)})"
    )
    verdict = "MET" if app / bare >= TARGET_RATIO else "NOT MET"
    print(f"ratio:   {app / bare:6.2f}  app / bare; target >= {TARGET_RATIO}: {verdict}")
    print(f"         {app / bare_no_fk:6.2f}  app / bare without foreign keys")


if __name__ == "__main__":
    main()
