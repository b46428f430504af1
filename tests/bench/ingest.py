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
import threading
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
ORGANIZATION, WARMUP_ORGANIZATION, FLOW_ORGANIZATION = "bench", "bench-warmup", "bench-flow"
WORKER_CLASS = "moderation.workers.InProcessWorker"
TARGET_FLOW_P99_MS = 200
FLOW_BATCH, FLOW_EVERY = 100, 0.1  # 1,000 items/s
FLOW_DRAIN = 60  # seconds to wait, after the last batch is sent, for the backlog
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


CLOCK_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def proc_cpu_ms(pid: int, *, children: bool = False) -> float:
    """CPU (user + system) of a process so far; with `children`, of its reaped children too
    (an RQ worker's work horses once they exited)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11 : 15 if children else 13]) * CLOCK_TICK_MS


def cmdline_cpu_ms(needle: str) -> dict[int, float]:
    """CPU so far of each process whose command line holds `needle`."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if needle in (stat.parent / "cmdline").read_bytes().decode(errors="replace"):
                found[int(stat.parent.name)] = proc_cpu_ms(int(stat.parent.name))
        except OSError:
            continue  # the process ended meanwhile
    return found


class BackendCpu:
    """CPU of the PostgreSQL backends of one database, sampled every 20 ms from a thread.

    A backend that ends between two samples loses at most its last 20 ms; backends that
    start during the run count from zero. `exclude` is the bench's own polling connection.
    """

    def __init__(self, dbname: str, exclude: int) -> None:
        self.needle, self.exclude = f" {dbname} ", exclude
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.running = False

    def sample(self) -> None:
        for pid, ms in cmdline_cpu_ms(self.needle).items():
            if pid != self.exclude:
                self.first.setdefault(pid, ms if not self.running else 0.0)
                self.last[pid] = ms

    def __enter__(self) -> BackendCpu:
        self.sample()  # the backends alive now count from their present CPU
        self.running = True
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def _loop(self) -> None:
        while self.running:
            time.sleep(0.02)
            self.sample()

    def __exit__(self, *exc: object) -> None:
        self.running = False
        self.thread.join()
        self.sample()

    @property
    def ms(self) -> float:
        return sum(ms - self.first.get(pid, 0.0) for pid, ms in self.last.items())


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


MINIMAL_TABLE = """
CREATE TABLE bench_bare (LIKE moderation_flaggeditem INCLUDING DEFAULTS INCLUDING IDENTITY);
ALTER TABLE bench_bare ADD PRIMARY KEY (id);
ALTER TABLE bench_bare ADD UNIQUE (organization_id, request_id);
CREATE INDEX ON bench_bare (due_at, priority DESC) WHERE state IN ('pending', 'escalated')"""


def bare_runs(db: Db, org_id: int, *, table: str) -> list[tuple[float, float]]:
    """(items/s, CPU ms) of INSERT … ON CONFLICT DO NOTHING of the app's own rows, 500 per
    transaction, into `table`: "twin" (every index and foreign key of the item table) or
    "minimal" (primary key, the unique request id, the claim's queue index; no foreign key).

    `db` is in autocommit mode, so each `transaction()` block is one real transaction. CPU is
    this process's (psycopg's executemany) plus its PostgreSQL backend's.
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
    backend = db.info.backend_pid
    results = []
    for _ in range(BARE_RUNS):
        db.execute("DROP TABLE IF EXISTS bench_bare")
        if table == "twin":
            # INCLUDING ALL copies every index (the unique one the conflict needs among them)
            # and gives `id` an identity sequence of its own; LIKE never copies foreign keys.
            db.execute("CREATE TABLE bench_bare (LIKE moderation_flaggeditem INCLUDING ALL)")
            for (definition,) in db.execute(ITEM_FOREIGN_KEYS).fetchall():
                db.execute(sql.SQL("ALTER TABLE bench_bare ADD {}").format(sql.SQL(definition)))
        else:
            for statement in MINIMAL_TABLE.split(";"):
                db.execute(statement)
        checkpoint(db)
        cpu_before = time.process_time() * 1000 + proc_cpu_ms(backend)
        started = time.perf_counter()
        for start in range(0, len(rows), BATCH_SIZE):
            with db.transaction(), db.cursor() as cursor:
                cursor.executemany(insert, rows[start : start + BATCH_SIZE])
        seconds = time.perf_counter() - started
        cpu = time.process_time() * 1000 + proc_cpu_ms(backend) - cpu_before
        results.append((len(rows) / seconds, cpu))
        stored = (db.execute("SELECT count(*) FROM bench_bare").fetchone() or (0,))[0]
        if stored != len(rows):
            raise SystemExit(f"bench: the bare baseline stored {stored} rows, not {len(rows)}")
    db.execute("DROP TABLE bench_bare")
    return results


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
    parser.add_argument(
        "--worker-class", default=WORKER_CLASS, help=f"the RQ worker class ({WORKER_CLASS})"
    )
    parser.add_argument(
        "--flow-seconds", type=float, default=60, help="flag-to-queue run, 0 skips it (60)"
    )
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
    # As `make worker` runs them: the non-forking worker class (moderation/workers.py).
    rqworker = [sys.executable, "manage.py", "rqworker", "--worker-class", args.worker_class]
    rqworker += ["ingest", "enforcement", "default"]
    print(
        f"bench: {len(items)} items in {len(bodies)} requests from {args.clients} clients; "
        f"gunicorn --workers {args.web_workers}, {args.workers} RQ workers; logs in {log_dir}",
        flush=True,
    )
    processes: list[subprocess.Popen[bytes]] = []
    dbname = conninfo_to_dict(database_url)["dbname"]
    flow_key = json.loads(manage("create_api_key", "f", "--organization", FLOW_ORGANIZATION))
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
            web_before = cmdline_cpu_ms(f"127.0.0.1:{port}")
            workers_before = sum(proc_cpu_ms(p.pid, children=True) for p in processes[1:])
            client_before = time.process_time() * 1000
            with BackendCpu(dbname, exclude=db.info.backend_pid) as backends:
                started = time.perf_counter()
                send_all(port, key, bodies, args.clients)
                accepted = time.perf_counter() - started
                wait_for(
                    lambda: all_processed(db, key, len(bodies)), timeout=600, what="the workers"
                )
                elapsed = time.perf_counter() - started
                time.sleep(0.2)  # the last backend samples, and any work horse reaped
            web_after = cmdline_cpu_ms(f"127.0.0.1:{port}")
            app_cpu = {
                "web": sum(ms - web_before.get(pid, 0.0) for pid, ms in web_after.items()),
                "workers": sum(proc_cpu_ms(p.pid, children=True) for p in processes[1:])
                - workers_before,
                "db": backends.ms,
            }
            client_ms = time.process_time() * 1000 - client_before
            flow = flow_to_queue(db, port, flow_key, args.flow_seconds) if args.flow_seconds else []
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
        twin = bare_runs(db, org_id, table="twin")
        minimal = bare_runs(db, org_id, table="minimal")

    batches = len(bodies)
    app = len(items) / elapsed
    app_ms = sum(app_cpu.values())
    load = f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    print(f"\ndate:    {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine()} (shared machine: wall-clock figures swing; CPU figures hold)")
    print(f"load:    {load} (1-min average; compare wall-clock figures only from an idle machine)")
    split = ", ".join(f"{name} {ms / batches:.0f}" for name, ms in app_cpu.items())
    print(
        f"app:     {app:6.0f} items/s  signed HTTP batches of {BATCH_SIZE}, first sent to last "
        f"stored; CPU ms a batch {app_ms / batches:.0f} ({split}; bench client "
        f"{client_ms / batches:.0f}, not counted)"
    )
    figures = {}
    for name, results, what in (
        ("twin", twin, "a twin with the item table's indexes and foreign keys"),
        ("minimal", minimal, "a minimal table: primary key, unique request id, queue index"),
    ):
        rate = statistics.median(r for r, _ in results)
        cpu = statistics.median(c for _, c in results)
        figures[name] = (rate, cpu)
        print(
            f"{name + ':':8} {rate:6.0f} items/s  INSERT … ON CONFLICT DO NOTHING, "
            f"{BATCH_SIZE} a transaction, into {what}"
        )
        print(
            f"                         CPU ms a batch {cpu / batches:.0f} (client + backend); "
            f"runs {', '.join(f'{r:.0f}/s {c / batches:.0f} ms' for r, c in results)}"
        )
    for name, (rate, cpu) in figures.items():
        # Both sides are CPU-bound on the same cores: items per CPU-second is what each would
        # reach with the machine to itself, whatever else runs on it now.
        print(
            f"ratio vs {name}: wall {app / rate:.2f} (items/s), "
            f"CPU {cpu / app_ms:.2f} (bare CPU / app CPU for the same items)"
        )
    cpu_ratio = figures["twin"][1] / app_ms
    verdict = "MET" if cpu_ratio >= TARGET_RATIO else "NOT MET"
    print(f"TARGET ingest_ratio: {cpu_ratio:.2f} (target {TARGET_RATIO}) {verdict}")
    wall, minimal_ratio = app / figures["twin"][0], figures["minimal"][1] / app_ms
    print(
        f"         (CPU per item against the twin table; wall-clock ratio this run {wall:.2f}; "
        f"CPU ratio against the minimal table {minimal_ratio:.2f})"
    )
    if flow:
        p50, p99 = percentile(flow, 50), percentile(flow, 99)
        verdict = "MET" if p99 <= TARGET_FLOW_P99_MS else "NOT MET"
        print(
            f"flow:    {len(flow)} batches of {FLOW_BATCH} every {FLOW_EVERY * 1000:.0f} ms "
            f"for {args.flow_seconds:.0f} s; 202 to claimable p50 {p50:.0f} ms, "
            f"p99 {p99:.0f} ms, max {max(flow):.0f} ms"
        )
        print(f"TARGET flag_to_queue_p99_ms: {p99:.0f} (target {TARGET_FLOW_P99_MS}) {verdict}")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def flow_to_queue(db: Db, port: int, key: dict[str, str], seconds: float) -> list[float]:
    """Flag to queue at a steady 1,000 items/s: one 100-item batch every 100 ms for `seconds`.

    For each batch, the time from its 202 (as the client receives it) to its items being
    claimable: committed as pending rows, which is when the claim query can see them. A
    poller asks every 5 ms, from outside, which batches' first items are there as pending
    rows (a batch's items commit together). Returns one figure, in ms, per batch.
    """
    count = int(seconds / FLOW_EVERY)
    items = bench_items(count * FLOW_BATCH, FLOW_ORGANIZATION)
    bodies = batch_bodies(items, size=FLOW_BATCH)
    answered: dict[str, float] = {}  # request id of a batch's first item -> time of its 202
    seen: dict[str, float] = {}
    sent: list[str] = []
    org = db.execute(
        "SELECT id FROM moderation_organization WHERE slug = %s", [FLOW_ORGANIZATION]
    ).fetchone()
    done = threading.Event()

    def poll() -> None:
        # By request id, not by "id > the last seen": ids are taken at insert and two workers
        # commit out of order, so a batch with lower ids can become visible later.
        with psycopg.connect(db.info.dsn, autocommit=True) as poller:
            query = (
                "SELECT request_id FROM moderation_flaggeditem WHERE organization_id = %s "
                "AND request_id = ANY(%s) AND state = 'pending'"
            )
            while not done.is_set() and len(seen) < count:
                waiting = [r for r in list(sent) if r not in seen]
                now = time.perf_counter()
                for (request_id,) in poller.execute(query, [org[0] if org else 0, waiting]):
                    seen.setdefault(request_id, now)
                time.sleep(0.005)

    def send(n: int) -> None:
        sent.append(items[n * FLOW_BATCH]["request_id"])
        post_signed(port, key, f"msg_flow_{n:06d}", bodies[n])
        answered[items[n * FLOW_BATCH]["request_id"]] = time.perf_counter()

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    print(f"bench: flag to queue, {count} batches of {FLOW_BATCH} every {FLOW_EVERY}s", flush=True)
    with ThreadPoolExecutor(16) as pool:
        start = time.perf_counter()
        futures = []
        for n in range(count):
            time.sleep(max(0.0, start + n * FLOW_EVERY - time.perf_counter()))
            futures.append(pool.submit(send, n))
        for future in futures:
            future.result()
    deadline = time.monotonic() + FLOW_DRAIN
    while len(seen) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    done.set()
    poller.join(timeout=5)
    if len(seen) < count:
        # Not a broken run but a stack that cannot keep up (a busy machine): those batches
        # count as the time they had waited when the bench gave up, a lower bound.
        print(f"bench: {count - len(seen)} of {count} flow batches not claimable {FLOW_DRAIN}s on")
    ended = time.perf_counter()
    # A batch seen before its 202 reached the client counts as 0 ms.
    return [max(0.0, (seen.get(r, ended) - answered[r]) * 1000) for r in answered]


if __name__ == "__main__":
    main()
