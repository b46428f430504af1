"""Claim throughput: 16 reviewers through the web app, against a bare psycopg claim loop.

`make bench` runs this script (not a pytest test). It rebuilds its own database with a backlog
of 1,000,000 pending items and times three runs of 16 clients on it: the claim in plain SQL
(the bare baseline), the app's claim request (POST /queue/next/, also with one client alone),
and the reviewer console's whole cycle. Every item must be handed out at most once, and the
CPU each claim costs is counted per process kind. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from http.cookies import SimpleCookie
from pathlib import Path
from statistics import quantiles
from typing import Any
from urllib.parse import urlencode

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run as a plain script, it still finds the package

from moderation.corpus import corpus_items  # noqa: E402

TARGET_RATIO, TARGET_P99_MS = 0.25, 50.0
PASSWORD_VAR, PASSWORD = "BENCH_REVIEWER_PASSWORD", "bench-reviewer-password"
WARMUP_STEPS = 5  # per client and run: every gunicorn worker has loaded its views by then
Db = psycopg.Connection[Any]
Step = Callable[["Run"], bool]
Probe = Callable[[], dict[int, float]]  # CPU ms by process id
Client = Callable[[ExitStack[bool | None], "Run"], Step]  # in the client's thread: its Step

LOAD_SUBJECTS = """
INSERT INTO moderation_subject
    (organization_id, user_id_hash, status, violations, reviewed, created_at, updated_at)
SELECT %(org)s, encode(sha256(convert_to('bench:' || s, 'UTF8')), 'hex'), 'active', 0, 0,
       now(), now()
FROM generate_series(1, %(subjects)s) s RETURNING id"""
# Item i arrives 0.6 s after item i-1 (a week of backlog) with corpus sample i mod 1,680 as its
# prompt, flagged in the sample's strongest category. Priority and queue as ingest computes
# them: severity weight × score × 1000, plus 10 an hour of age up to 480; critical categories
# go to the critical queue. Each item entered its queue when it came and is due 4 hours later
# (the SLA columns of migration 0016).
LOAD_ITEMS = """
INSERT INTO moderation_flaggeditem (organization_id, subject_id, request_id, prompt, response,
    model, metadata, flagged_at, received_at, priority, queued_at, due_at, queue, state)
SELECT %(org)s, %(first_subject)s + (i::bigint * 7919) %% %(subjects)s, 'bench-' || i, s.prompt, '',
       s.model, jsonb_build_object('source', 'moderation-samples-1680', 'sample', s.n),
       t.at - interval '2 seconds', t.at,
       round(s.score * CASE c.severity WHEN 'critical' THEN 4 WHEN 'high' THEN 3
                                       WHEN 'medium' THEN 2 ELSE 1 END * 1000)::int
         + least(480, floor(extract(epoch FROM now() - t.at) / 360))::int,
       t.at, t.at + interval '4 hours',
       CASE c.severity WHEN 'critical' THEN 'critical' ELSE 'standard' END, 'pending'
FROM generate_series(1, %(items)s) i
CROSS JOIN LATERAL (SELECT now() - (%(items)s - i) * interval '600 milliseconds' AS at) t
JOIN bench_sample s ON s.n = i %% %(samples)s
JOIN moderation_categoryalias a ON a.alias = s.label
JOIN moderation_policycategory c ON c.id = a.category_id"""
LOAD_SIGNALS = """
INSERT INTO moderation_signal (item_id, classifier, category_id, label, score)
SELECT i.id, 'corpus-demo-classifier', a.category_id, s.label, s.score
FROM moderation_flaggeditem i JOIN bench_sample s ON s.n = (i.metadata ->> 'sample')::int
JOIN moderation_categoryalias a ON a.alias = s.label"""
# A reviewer's claim (services/claims.py, claim_next) as one statement: real items only, never
# the reviewer's own decision waiting for its second answer, earliest due first.
BARE_CLAIM = """
UPDATE moderation_flaggeditem SET state = 'claimed', claimed_by_id = %(user)s,
    claimed_at = now(), lease_expires_at = now() + interval '600 seconds'
WHERE id = (SELECT i.id FROM moderation_flaggeditem i
            WHERE i.state = 'pending' AND i.queue IN ('critical', 'standard', 'audit')
              AND i.gold_id IS NULL
              AND NOT EXISTS (SELECT 1 FROM moderation_secondreview r
                              JOIN moderation_decision d ON d.id = r.first_decision_id
                              WHERE r.item_id = i.id AND r.state = 'pending'
                                AND d.reviewer_id = %(user)s)
            ORDER BY i.due_at, i.priority DESC, i.id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id"""
# Only the holder's claim can be decided: a rowcount of 0 would mean a second claim took it.
DECIDE = """
UPDATE moderation_flaggeditem SET state = 'decided', decided_at = now(), claimed_by_id = NULL,
    claimed_at = NULL, lease_expires_at = NULL
WHERE id = %(item)s AND state = 'claimed' AND claimed_by_id = %(user)s"""
SECOND_REVIEW_OFF = """
INSERT INTO moderation_qualitysettings
    (id, gold_percent, second_review_percent, second_review_all_removals, updated_at)
VALUES (1, 2, 0, false, now())
ON CONFLICT (id) DO UPDATE SET second_review_percent = 0, second_review_all_removals = false"""
RESET = """
UPDATE moderation_flaggeditem SET state = 'pending', claimed_by_id = NULL, claimed_at = NULL,
    lease_expires_at = NULL, decided_at = NULL
WHERE state <> 'pending'"""
APP_CHECKS = """
SELECT (SELECT count(*) FROM moderation_auditevent WHERE action = 'item.claim'),
       (SELECT count(DISTINCT item_id) FROM moderation_auditevent WHERE action = 'item.claim'),
       (SELECT count(*) FROM moderation_decision),
       (SELECT count(DISTINCT item_id) FROM moderation_decision
        WHERE verdict IN ('violation', 'no_violation')),
       (SELECT count(*) FROM moderation_flaggeditem WHERE state = 'decided'),
       (SELECT count(*) FROM moderation_flaggeditem WHERE state = 'claimed'),
       (SELECT count(*) FROM moderation_decision d JOIN moderation_auditevent a
          ON a.item_id = d.item_id AND a.action = 'item.claim' WHERE a.actor_id <> d.reviewer_id)"""


@dataclass
class Run:
    """One client's record of a run, or (merged) the whole run's."""

    claimed: list[int] = field(default_factory=list)  # every item handed out, warm-up included
    decided: int = 0  # warm-up included
    claim_s: list[float] = field(default_factory=list)  # timed: the claim request or statement
    cycle_s: list[float] = field(default_factory=list)  # timed: claim and decision
    ended: float = 0.0  # merged: the length of the timed window
    holding: int = 0  # clients left holding the item their last decision claimed
    cpu_ms: dict[str, float] = field(default_factory=dict)  # merged: CPU in the timed window
    # Paced runs: when the client's next claim was due. Its time counts from then, so a claim
    # that waited for the one before it counts that wait (no coordinated omission).
    due: float | None = None

    def record(self, item: int | None, claim_s: float, cycle_s: float) -> None:
        self.claimed += [item] if item is not None else []
        self.decided += 1
        self.claim_s.append(claim_s)
        self.cycle_s.append(cycle_s)

    def merge(self, other: Run) -> None:
        self.claimed += other.claimed
        self.decided += other.decided
        self.claim_s += other.claim_s
        self.cycle_s += other.cycle_s
        self.holding += other.holding

    def rate(self) -> float:
        return len(self.cycle_s) / self.ended

    def cpu(self) -> str:
        """CPU per claim, in ms, by process kind."""
        claims = len(self.cycle_s)
        return ", ".join(f"{name} {ms / claims:.1f}" for name, ms in self.cpu_ms.items())

    def doubles(self) -> int:
        return len(self.claimed) - len(set(self.claimed))


def load(db: Db, *, items: int, subjects: int) -> None:
    """One organization, `subjects` end users, `items` pending items with a signal each."""
    samples = corpus_items(organization="bench")
    db.execute(
        "CREATE TEMP TABLE bench_sample (n int, prompt text, model text, label text, score real)"
    )
    with db.cursor().copy("COPY bench_sample FROM STDIN") as copy:
        for n, item in enumerate(samples):
            top = max(item["signals"], key=lambda s: s["score"])
            copy.write_row((n, item["prompt"], item["model"], top["category"], top["score"]))
    org = db.execute(
        "INSERT INTO moderation_organization (slug, name, enforcement_url, enforcement_secret,"
        " enforcement_allow_private, created_at) VALUES ('bench', 'Bench', '', '', false, now())"
        " RETURNING id"
    ).fetchone()
    given = {"org": org and org[0], "items": items, "subjects": subjects}
    first = min(row[0] for row in db.execute(LOAD_SUBJECTS, given).fetchall())
    db.execute(LOAD_ITEMS, {**given, "first_subject": first, "samples": len(samples)})
    db.execute(LOAD_SIGNALS)
    # Now, so that no timed run pays for setting hint bits or for stale planner statistics.
    db.execute("VACUUM ANALYZE")


class Reviewer:
    """A browser without JavaScript: one keep-alive connection, its cookies, the CSRF token."""

    def __init__(self, port: int, username: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.username, self.cookies = username, dict[str, str]()

    def send(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, str, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:  # Django takes the CSRF cookie's secret as the form's token
            body = urlencode({"csrfmiddlewaretoken": self.cookies.get("csrftoken", ""), **form})
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        sock = self.connection.sock
        if sock is not None and select.select([sock], [], [], 0)[0]:
            # Readable while idle: a threaded gunicorn closed the keep-alive connection (2 s
            # idle, as between runs). Reconnect now rather than retry a POST that failed.
            # (Sync workers say "Connection: close"; http.client reconnects by itself.)
            self.connection.close()
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode()
        for header in response.msg.get_all("Set-Cookie") or []:
            self.cookies.update((k, morsel.value) for k, morsel in SimpleCookie(header).items())
        return response.status, response.getheader("Location") or "", text

    def redirect(self, method: str, path: str, form: dict[str, str]) -> int | None:
        """The item a 302 leads to, None for the queue page; any other answer fails the bench."""
        status, location, text = self.send(method, path, form)
        found = re.fullmatch(r"/items/(\d+)/", location)
        if status == 302 and (found or location.startswith("/queue/")):
            return int(found.group(1)) if found else None
        raise RuntimeError(f"{self.username}: {path} answered {status} {location} {text[:200]!r}")

    def login(self) -> Reviewer:
        self.send("GET", "/accounts/login/")
        self.redirect("POST", "/accounts/login/", {"username": self.username, "password": PASSWORD})
        return self

    def claim(self) -> int | None:
        return self.redirect("POST", "/queue/next/", {})

    def read(self, item: int) -> None:
        status, _, page = self.send("GET", f"/items/{item}/")
        if status != 200 or 'value="no_violation"' not in page:
            raise RuntimeError(
                f"{self.username}: /items/{item}/ answered {status}, no decision form"
            )

    def decide(self, item: int) -> int | None:
        """No violation; in the console the same request claims the next item and 302s to it."""
        return self.redirect("POST", f"/items/{item}/decide/", {"verdict": "no_violation"})


def decided_in_sql(claim: Callable[[], int | None], db: Db, user: int) -> Step:
    """Claim, then decide with the UPDATE of the bare loop (a rowcount of 0: a double claim).
    For the app, so that the next POST /queue/next/ claims again, not answers the held item."""

    def step(run: Run) -> bool:
        began = run.due if run.due is not None else time.perf_counter()
        item = claim()
        claimed = time.perf_counter()
        if item is None:
            return False
        if db.execute(DECIDE, {"item": item, "user": user}).rowcount != 1:
            raise RuntimeError(f"item {item} is no longer claimed by user {user}: a double claim")
        run.record(item, claimed - began, time.perf_counter() - began)
        return True

    return step


def bare_client(url: str, user: int, stack: ExitStack[bool | None], run: Run) -> Step:
    db = stack.enter_context(psycopg.connect(url, autocommit=True))

    def claim() -> int | None:
        row = db.execute(BARE_CLAIM, {"user": user}).fetchone()
        return row[0] if row else None

    return decided_in_sql(claim, db, user)


def app_client(
    url: str, reviewer: Reviewer, user: int, stack: ExitStack[bool | None], run: Run
) -> Step:
    db = stack.enter_context(psycopg.connect(url, autocommit=True))
    return decided_in_sql(reviewer.claim, db, user)


def console_client(reviewer: Reviewer, stack: ExitStack[bool | None], run: Run) -> Step:
    """A reviewer at work: Review next once, then read the page and decide, item after item."""
    held = reviewer.claim()
    run.claimed += [held] if held is not None else []

    def step(run: Run) -> bool:
        nonlocal held
        if held is None:
            return False
        began = time.perf_counter()
        reviewer.read(held)
        read = time.perf_counter()
        held = reviewer.decide(held)
        decided = time.perf_counter()
        run.record(held, decided - read, decided - began)  # the decision's request claims too
        run.holding = int(held is not None)
        return held is not None

    return step


def cpu_ms(needle: str) -> dict[int, float]:
    """CPU time (user + system) so far of each process whose command line holds `needle`."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if needle in (stat.parent / "cmdline").read_bytes().decode(errors="replace"):
                ticks = sum(int(f) for f in stat.read_text().rsplit(")", 1)[1].split()[11:13])
                found[int(stat.parent.name)] = ticks * 1000 / os.sysconf("SC_CLK_TCK")
        except OSError:
            continue  # the process ended meanwhile
    return found


def used(before: dict[int, float], after: dict[int, float]) -> float:
    # A process gone by the end (a database connection Django recycled) is not counted: a
    # small undercount, where summing totals would subtract its whole life.
    return sum(ms - before.get(pid, 0.0) for pid, ms in after.items())


def timed(
    clients: Sequence[Client], duration: float, probes: dict[str, Probe], *, pace: float = 0
) -> Run:
    """Each client in a thread: WARMUP_STEPS untimed steps, then steps for `duration` seconds
    once every client is ready: back to back, or with `pace` one step every `pace` seconds
    per client (an open loop; the clients' schedules spread evenly over the period). The
    probes (CPU counters) are read as the last client gets ready and as the last one
    finishes, with every connection still open."""
    marks: list[tuple[float, dict[str, dict[int, float]]]] = []

    def mark() -> None:
        marks.append((time.perf_counter(), {name: probe() for name, probe in probes.items()}))

    ready, done = threading.Barrier(len(clients), mark), threading.Barrier(len(clients), mark)
    results: list[Run | BaseException] = [Run() for _ in clients]

    def client(index: int) -> None:
        run = results[index]
        assert isinstance(run, Run)
        try:
            with ExitStack() as stack:
                step = clients[index](stack, run)
                for _ in range(WARMUP_STEPS):
                    step(run)
                run.claim_s, run.cycle_s = [], []
                ready.wait()
                start = marks[0][0]
                if pace:
                    slot = start + pace * index / len(clients)
                    while slot < start + duration:
                        time.sleep(max(0.0, slot - time.perf_counter()))
                        run.due = slot
                        if not step(run):
                            break
                        slot += pace
                else:
                    while time.perf_counter() < start + duration and step(run):
                        pass
                done.wait()
        except BaseException as error:  # reported after the join
            results[index] = error
            ready.abort()
            done.abort()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The first real failure, not the broken barrier it left the other clients at.
    errors = [r for r in results if isinstance(r, BaseException)]
    errors.sort(key=lambda error: isinstance(error, threading.BrokenBarrierError))
    if errors:
        raise SystemExit(f"bench: a client failed: {errors[0]!r}")
    merged = Run(ended=marks[1][0] - marks[0][0])
    merged.cpu_ms = {name: used(marks[0][1][name], marks[1][1][name]) for name in probes}
    for result in results:
        assert isinstance(result, Run)
        merged.merge(result)
    return merged


def verify_app(db: Db, claims: list[Run], console: Run) -> None:
    """The database agrees with the clients: every item claimed once, decided once, by its
    claimer (the audit log records each claim; the bare run's rows were reset before)."""
    runs = [*claims, console]
    claimed = [item for run in runs for item in run.claimed]
    decided = sum(run.decided for run in runs)
    want = [len(claimed), len(claimed), console.decided, console.decided, decided]
    want += [console.holding, 0]
    got = db.execute(APP_CHECKS).fetchone() or ()
    names = "claims in the audit log,items claimed,decisions,items with a final decision,"
    names += "items decided,items still held,decided by another than the claimer"
    checks = zip(names.split(","), got, want, strict=True)
    wrong = [f"{name} {value} != {wanted}" for name, value, wanted in checks if value != wanted]
    doubles = len(claimed) - len(set(claimed))
    if wrong or doubles:
        raise SystemExit(f"bench: FAILED: {doubles} double claims; {'; '.join(wrong)}")


def answers(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/accounts/login/")
        return connection.getresponse().status == 200
    except OSError:
        return False


@contextmanager
def gunicorn(env: dict[str, str], *options: str) -> Iterator[int]:
    """The web server as `make serve` starts it, on a free port; always stopped at the end."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = Path(tempfile.mkdtemp(prefix="modqueue-bench-claims-")) / "web.log"
    argv = [str(Path(sys.executable).with_name("gunicorn")), "moderation.wsgi:application"]
    argv += f"--bind 127.0.0.1:{port} {' '.join(options)}".split()
    argv += ["--access-logfile", "-", "--graceful-timeout", "10"]  # the rest of `make serve`
    # Not `make serve`'s 30 s: on a loaded shared machine a worker's first import of Django
    # can take longer, and gunicorn would kill it before it ever answers.
    argv += ["--timeout", "120"]
    print(f"bench: {' '.join(argv[1:8])}; log in {log}", flush=True)
    with log.open("ab") as out:
        # A session of its own, so that killpg reaches the workers with their arbiter.
        output: dict[str, Any] = {"stdout": out, "stderr": subprocess.STDOUT}
        server = subprocess.Popen(argv, cwd=ROOT, env=env, start_new_session=True, **output)
    try:
        deadline = time.monotonic() + 180
        while not answers(port):
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"bench: gunicorn did not start; see {log}")
            time.sleep(0.2)
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def prepare(url: str, env: dict[str, str], names: list[str], items: int, subjects: int) -> None:
    """A fresh database, migrated, with the reviewers and the backlog."""
    print(f"bench: recreating {url}", flush=True)
    name = sql.Identifier(str(conninfo_to_dict(url)["dbname"]))
    with psycopg.connect(url, dbname="postgres", autocommit=True) as admin:
        # FORCE: a server left over by an interrupted run may still be connected.
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(name))

    def manage(*argv: str) -> None:
        command = [sys.executable, "manage.py", *argv]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"bench: manage.py {' '.join(argv)} failed:\n{done.stderr}")

    manage("migrate", "--noinput", "-v0")
    manage("collectstatic", "--noinput", "-v0")
    with ThreadPoolExecutor(4) as pool:  # each hashes a password: most of a second of CPU
        add = ["add_user", "--role", "reviewer", "--password-env", PASSWORD_VAR]
        list(pool.map(lambda name: manage(*add[:1], name, *add[1:]), names))
    with psycopg.connect(url, autocommit=True) as db:
        began = time.perf_counter()
        load(db, items=items, subjects=subjects)
        print(f"bench: {items} items loaded in {time.perf_counter() - began:.0f}s", flush=True)


def ms(seconds: list[float]) -> str:
    cut = quantiles(seconds, n=100)
    return f"p50 {cut[49] * 1000:6.1f} ms  p99 {cut[98] * 1000:6.1f} ms"


def machine() -> str:
    cpu = re.findall(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())[0]
    kib = int(re.findall(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text())[0])
    return f"{len(os.sched_getaffinity(0))} cores (nproc), {cpu}, {kib / 1024**2:.1f} GiB RAM"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000, help="pending items (1000000)")
    parser.add_argument("--subjects", type=int, default=10_000, help="end users (10000)")
    parser.add_argument("--clients", type=int, default=16, help="reviewers at once (16)")
    parser.add_argument("--duration", type=float, default=30, help="seconds per run (30)")
    parser.add_argument(
        "--pace", type=float, default=1.0, help="paced run: seconds between a client's claims (1)"
    )
    web = int(os.environ.get("WEB_CONCURRENCY") or 4)
    parser.add_argument("--web-workers", type=int, default=web, help="as make serve (4)")
    # Sync workers, as `make serve`: of the mixes tried, the least CPU a claim (docs/performance.md)
    parser.add_argument("--threads", type=int, default=1, help="threads a worker (1: sync)")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1/modqueue_bench_claims")
    env = {**os.environ, "DATABASE_URL": url, PASSWORD_VAR: PASSWORD}
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    env.pop("DEBUG", None)  # production settings, as `make serve` runs them
    env.update(SECRET_KEY="bench-secret-key", MODQUEUE_SUBJECT_PEPPER="bench-pepper")
    load_before = os.getloadavg()[0]
    names = [f"r{n}" for n in range(1, args.clients + 1)]
    prepare(url, env, names, args.items, args.subjects)

    with psycopg.connect(url, autocommit=True) as db:
        rows = db.execute("SELECT username, id FROM auth_user WHERE username = ANY(%s)", [names])
        users: dict[str, int] = dict(rows.fetchall())
        # No blind second reviews: one sampled decision sends its item back to the queue for a
        # second reviewer, by design, and the checks count one claim and one decision an item.
        # Gold stays at its default share (2 %); with no golden items it serves none.
        db.execute(SECOND_REVIEW_OFF)
        dbname = str(conninfo_to_dict(url)["dbname"])
        probes = {"client": lambda: {0: time.process_time() * 1000}, "db": lambda: cpu_ms(dbname)}
        db.execute("CHECKPOINT")  # each run starts with no dirty pages left by the one before
        bare = timed([partial(bare_client, url, users[n]) for n in names], args.duration, probes)
        if bare.doubles():
            raise SystemExit(f"bench: FAILED: the bare loop claimed {bare.doubles()} items twice")
        # The app gets the same 1,000,000 pending items, without the bare run's dead rows.
        db.execute(RESET)
        db.execute("VACUUM ANALYZE moderation_flaggeditem")
        server = [f"--workers {args.web_workers}", f"--threads {args.threads}"]
        with gunicorn(env, *server) as port:
            probes["web"] = lambda: cpu_ms(f"127.0.0.1:{port}")  # gunicorn's command line
            with ThreadPoolExecutor(len(names)) as pool:
                reviewers = list(pool.map(lambda name: Reviewer(port, name).login(), names))
            db.execute("CHECKPOINT")
            app_clients = [partial(app_client, url, v, users[v.username]) for v in reviewers]
            app = timed(app_clients, args.duration, probes)
            # One reviewer alone: the claim request's own latency, without 15 others queued.
            alone = timed(app_clients[:1], args.duration / 3, probes)
            # The p99 target's load: every reviewer claims once a second, whatever the others do.
            paced = timed(app_clients, args.duration, probes, pace=args.pace)
            db.execute("VACUUM moderation_flaggeditem")  # the app run's decided rows, as above
            db.execute("CHECKPOINT")
            console_clients = [partial(console_client, v) for v in reviewers]
            console = timed(console_clients, args.duration, probes)
        verify_app(db, [app, alone, paced], console)

    ratio, p99 = app.rate() / bare.rate(), quantiles(paced.claim_s, n=100)[98] * 1000
    doubles = len(bare.claimed) - len(set(bare.claimed))
    app_claimed = [item for run in (app, alone, paced, console) for item in run.claimed]
    doubles += len(app_claimed) - len(set(app_claimed))
    print(f"\ndate:     {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\nmachine:  {machine()}")
    print(f"load:     {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (1-minute average)")
    print(f"table:    {args.items} pending items, {args.subjects} subjects, one organization")
    print(f"clients:  {args.clients}, {args.duration:.0f} s a run; gunicorn {' '.join(server)}")
    for name, run, claim, cycle in [
        ("bare", bare, "claim statement", "+ SQL decision"),
        ("app", app, "POST /queue/next/", "+ SQL decision"),
        ("1 client", alone, "POST /queue/next/", "+ SQL decision"),
        (f"paced {1 / args.pace:g}/s", paced, "POST /queue/next/", "+ SQL decision"),
        ("console", console, "POST decide", "+ GET item page"),
    ]:
        print(f"{name + ':':12} {run.rate():5.0f} claims/s  {claim:18} {ms(run.claim_s)}")
        print(f"{'':29}{cycle:18} {ms(run.cycle_s)}  CPU ms a claim: {run.cpu()}")
    counts = f"{len(bare.claimed)} bare, {len(app.claimed)} app, {len(paced.claimed)} paced, "
    counts += f"{len(console.claimed)} console"
    print(f"claims:   {counts}, warm-up included")
    print(f"ratio:    app / bare claims/s, both closed loops of {args.clients} clients")
    print(
        f"p99:      POST /queue/next/, {args.clients} reviewers each claiming every {args.pace:g} s"
    )
    for name, figure, target, met in [
        ("claims_ratio", f"{ratio:.3f}", f"{TARGET_RATIO}", ratio >= TARGET_RATIO),
        ("claims_p99_ms", f"{p99:.1f}", f"{TARGET_P99_MS:.0f}", p99 <= TARGET_P99_MS),
        ("claims_double_claims", f"{doubles}", "0", doubles == 0),
    ]:
        print(f"TARGET {name}: {figure} (target {target}) {'MET' if met else 'NOT MET'}")


if __name__ == "__main__":
    main()
