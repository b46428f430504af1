"""Scaling out: ingest with 1, 2 and 4 RQ workers, claims through 1, 2 and 4 gunicorn nodes.

`make bench` runs this script (not a pytest test). It rebuilds its own database with a backlog
of pending items (200,000 by default, loaded as tests/bench/claims.py does) and reviewers, then

- ingest: for 1, 2 and 4 RQ worker processes (`manage.py rqworker --worker-class
  moderation.workers.InProcessWorker`, as `make worker`), posts
  the shipped corpus as signed 500-item batches to one gunicorn node and times first request
  sent to last item stored, each run to an organization of its own;
- claims: for 1, 2 and 4 gunicorn nodes (separate gunicorn servers of one sync worker each,
  on their own ports, as separate machines behind a load balancer would be), 8 reviewers work
  the console (read the item, decide, which claims the next) with the client sending each
  reviewer's requests to node (reviewer mod nodes). Every reviewer signs in on the first node
  and carries its session cookie to the others: the sessions live in PostgreSQL.

For each run it prints the rate and the CPU each item or claim cost per process kind (web,
RQ worker, PostgreSQL backends), and how busy PostgreSQL was (its backends' CPU over the run,
in cores), then where the rate stops growing. Last it reads the resident memory of the RQ
workers and the gunicorn workers (target 150 MB each). See docs/scaling.md.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from functools import partial
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import psycopg
import redis
from psycopg.conninfo import conninfo_to_dict

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run as a plain script, it still finds the package

import tests.bench.claims as claims_bench  # noqa: E402
from tests.bench.claims import (  # noqa: E402
    PASSWORD,
    PASSWORD_VAR,
    Reviewer,
    Run,
    console_client,
    cpu_ms,
    machine,
    prepare,
    timed,
    used,
)
from tests.bench.ingest import (  # noqa: E402
    all_processed,
    answers,
    batch_bodies,
    bench_items,
    send_all,
    spawn,
    stop,
    wait_for,
)
from tests.bench.pages import parent_of, rss_mb, target  # noqa: E402

# claims.py's backlog, with the SLA columns migration 0016 made NOT NULL (that loader predates
# them): each item entered its queue when it came and is due 4 hours later.
BACKLOG_ITEMS = claims_bench.LOAD_ITEMS.replace(
    "priority, queue, state)", "priority, queue, state, queued_at, due_at)"
).replace("'pending'\nFROM", "'pending', t.at, t.at + interval '4 hours'\nFROM")
if BACKLOG_ITEMS.count("due_at") != 1 or "interval '4 hours'" not in BACKLOG_ITEMS:
    raise SystemExit("bench: claims.py's LOAD_ITEMS changed; update scaling.py's backlog")
OVERLAPPING_CLAIMS = """
SELECT count(*) FROM (
    SELECT action, lag(action) OVER (PARTITION BY item_id ORDER BY at, id) AS before
    FROM moderation_auditevent
    WHERE action IN ('item.claim', 'item.decide', 'item.skip', 'item.release',
                     'item.lease_expired', 'item.escalate', 'item.undo')) a
WHERE action = 'item.claim' AND before = 'item.claim'"""
COUNTS = (1, 2, 4)
WORKER_CLASS = "moderation.workers.InProcessWorker"  # as `make worker` runs them
TARGET_RSS_MB = 150.0
REVIEWERS = 8


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def session_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[3])


def in_sessions(leaders: list[int]) -> list[int]:
    """Every process in the sessions these processes lead (spawn starts each in its own)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if session_of(int(stat.parent.name)) in leaders:
                found.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return found


def cpu_of(pids: list[int]) -> dict[int, float]:
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            found[pid] = sum(int(f) for f in fields[11:13]) * 1000 / ticks
        except OSError:
            continue
    return found


class Sampler:
    """Each probe read every 0.1 s in a thread: the CPU of processes that end during the run
    (RQ's work horse, a job's database connection) is counted up to its last reading, and a
    process born during the run from zero."""

    def __init__(self, probes: dict[str, Any]) -> None:
        self.probes = probes
        self.first = {name: probe() for name, probe in probes.items()}
        self.last = {name: dict(seen) for name, seen in self.first.items()}
        self.running = True
        self.thread = threading.Thread(target=self.poll, daemon=True)
        self.thread.start()

    def poll(self) -> None:
        while self.running:
            for name, probe in self.probes.items():
                self.last[name].update(probe())
            time.sleep(0.1)

    def stop(self) -> dict[str, float]:
        self.running = False
        self.thread.join()
        for name, probe in self.probes.items():
            self.last[name].update(probe())
        return {name: used(self.first[name], self.last[name]) for name in self.probes}


def web_server(env: dict[str, str], port: int, workers: int, log: Path) -> Any:
    argv = [str(Path(sys.executable).with_name("gunicorn")), "moderation.wsgi:application"]
    argv += f"--bind 127.0.0.1:{port} --workers {workers} --threads 1".split()
    argv += ["--access-logfile", "-", "--graceful-timeout", "10"]  # the rest of `make serve`
    return spawn(argv, env, log)


class Stack:
    """Gunicorn nodes and RQ workers started for one run; stopped (and measured) at its end."""

    def __init__(self, env: dict[str, str], log_dir: Path, *, nodes: int, web: int, rq: int):
        self.ports = [free_port() for _ in range(nodes)]
        self.web = [web_server(env, port, web, log_dir / f"web-{port}.log") for port in self.ports]
        argv = [sys.executable, "manage.py", "rqworker", "--worker-class", WORKER_CLASS]
        argv += ["ingest", "enforcement", "default"]
        self.rq = [spawn(argv, env, log_dir / f"worker-{n}.log") for n in range(rq)]
        everything = [*self.web, *self.rq]
        for port in self.ports:
            up = partial(answers, port, everything)
            wait_for(up, timeout=90, what=f"gunicorn on port {port}")

    def probes(self, dbname: str) -> dict[str, Any]:
        web, rq = [p.pid for p in self.web], [p.pid for p in self.rq]
        return {
            "web": lambda: cpu_of(in_sessions(web)),
            "worker": lambda: cpu_of(in_sessions(rq)),
            "db": lambda: cpu_ms(f" {dbname} "),
        }

    def rss(self) -> tuple[list[float], list[float]]:
        """MB of each gunicorn worker (not the arbiters) and each RQ worker process."""
        arbiters = {p.pid for p in self.web}
        web = [pid for pid in in_sessions(list(arbiters)) if parent_of(pid) in arbiters]
        rq = in_sessions([p.pid for p in self.rq])
        return [rss_mb(pid) for pid in web], [rss_mb(pid) for pid in rq]

    def stop(self) -> None:
        stop([*self.web, *self.rq])


def ingest_run(
    env: dict[str, str], url: str, log_dir: Path, workers: int, items: int, tag: str
) -> tuple[float, dict[str, float], float, tuple[list[float], list[float]]]:
    """items/s stored, CPU ms by kind, seconds, and RSS at the end."""
    organization = f"scale-{tag}"
    key = json.loads(manage(env, "create_api_key", tag, "--organization", organization))
    warm = json.loads(manage(env, "create_api_key", f"{tag}w", "--organization", f"{tag}-w"))
    bodies = batch_bodies(bench_items(items, organization))
    warmup = batch_bodies(bench_items(8 * workers, f"{tag}-w"), size=2)
    stack = Stack(env, log_dir, nodes=1, web=2, rq=workers)
    dbname = str(conninfo_to_dict(url)["dbname"])
    try:
        with psycopg.connect(url, autocommit=True) as db:
            send_all(stack.ports[0], warm, warmup, 2)
            wait_for(lambda: all_processed(db, warm, len(warmup)), timeout=120, what="warm-up")
            sampler = Sampler(stack.probes(dbname))
            began = time.perf_counter()
            send_all(stack.ports[0], key, bodies, 4)
            wait_for(lambda: all_processed(db, key, len(bodies)), timeout=900, what="workers")
            seconds = time.perf_counter() - began
            cpu = sampler.stop()
            stored = db.execute(
                "SELECT count(*) FROM moderation_flaggeditem i JOIN moderation_organization o"
                " ON o.id = i.organization_id WHERE o.slug = %s",
                [organization],
            ).fetchone()
            if not stored or stored[0] != items:
                raise SystemExit(f"bench: {organization} stored {stored}, not {items} items")
        return items / seconds, cpu, seconds, stack.rss()
    finally:
        stack.stop()


def claims_run(
    env: dict[str, str], url: str, log_dir: Path, nodes: int, duration: float
) -> tuple[Run, tuple[list[float], list[float]]]:
    stack = Stack(env, log_dir, nodes=nodes, web=1, rq=0)
    dbname = str(conninfo_to_dict(url)["dbname"])
    try:
        reviewers = []
        for n in range(REVIEWERS):
            reviewer = Reviewer(stack.ports[0], f"r{n + 1}").login()
            # The session made on the first node, used on another: a shared session store.
            reviewer.connection = HTTPConnection("127.0.0.1", stack.ports[n % nodes], timeout=60)
            reviewers.append(reviewer)
        # No CHECKPOINT between runs (as claims.py does): the server is shared by every
        # database on it, and a checkpoint here waits out the others' dirty pages.
        clients = [partial(console_client, reviewer) for reviewer in reviewers]
        run = timed(clients, duration, stack.probes(dbname))
        return run, stack.rss()
    finally:
        stack.stop()


def manage(env: dict[str, str], *argv: str) -> str:
    command = [sys.executable, "manage.py", *argv]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"bench: manage.py {' '.join(argv)} failed:\n{done.stderr}")
    return done.stdout


def per(cpu: dict[str, float], count: float) -> str:
    return ", ".join(f"{name} {ms / count:5.2f}" for name, ms in cpu.items())


def flattens(rates: dict[int, float]) -> str:
    """Where one more doubling gave less than a quarter more."""
    counts = sorted(rates)
    for low, high in zip(counts, counts[1:], strict=False):
        if rates[high] < rates[low] * 1.25:
            return f"flat from {low} to {high} ({rates[high] / rates[low]:.2f}x)"
    return f"still growing at {counts[-1]} ({rates[counts[-1]] / rates[counts[0]]:.2f}x of 1)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=200_000, help="pending items (200000)")
    parser.add_argument("--items", type=int, default=10_000, help="items an ingest run (10000)")
    parser.add_argument("--duration", type=float, default=20, help="seconds a claims run (20)")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1/modqueue_bench_scaling")
    env = {**os.environ, "DATABASE_URL": url, PASSWORD_VAR: PASSWORD}
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    env.pop("DEBUG", None)  # production settings, as `make serve` runs them
    env.update(SECRET_KEY="bench-secret-key", MODQUEUE_SUBJECT_PEPPER="bench-pepper")
    load_before = os.getloadavg()[0]
    names = [f"r{n}" for n in range(1, REVIEWERS + 1)]
    if "due_at" not in claims_bench.LOAD_ITEMS:
        claims_bench.LOAD_ITEMS = BACKLOG_ITEMS
    prepare(url, env, names, args.backlog, 10_000)
    redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    log_dir = Path(tempfile.mkdtemp(prefix="modqueue-bench-scaling-"))
    print(f"bench: logs in {log_dir}", flush=True)
    cores = len(os.sched_getaffinity(0))

    ingest: dict[int, tuple[float, dict[str, float], float]] = {}
    web_rss: list[float] = []
    worker_rss: list[float] = []
    for workers in COUNTS:
        rate, cpu, seconds, (web, rq) = ingest_run(
            env, url, log_dir, workers, args.items, f"w{workers}"
        )
        ingest[workers] = (rate, cpu, seconds)
        web_rss += web
        worker_rss += rq
        print(f"bench: ingest with {workers} RQ workers: {rate:.0f} items/s", flush=True)
    claims: dict[int, Run] = {}
    for nodes in COUNTS:
        claims[nodes], (web, _) = claims_run(env, url, log_dir, nodes, args.duration)
        web_rss += web
        print(f"bench: claims through {nodes} nodes: {claims[nodes].rate():.0f}/s", flush=True)

    print(f"\ndate:     {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\nmachine:  {machine()}")
    print(f"load:     {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (1-minute average)")
    print(f"ingest:   {args.items} items a run, 4 clients, one gunicorn node of 2 sync workers")
    print("  RQ workers  items/s  PostgreSQL busy  CPU ms an item")
    for workers, (rate, cpu, seconds) in ingest.items():
        busy = cpu["db"] / 1000 / seconds
        print(f"  {workers:10}  {rate:7.0f}  {busy:5.2f} of {cores} cores  {per(cpu, args.items)}")
    print(f"  growth: {flattens({w: r for w, (r, _, _) in ingest.items()})}")
    print(f"claims:   {REVIEWERS} reviewers at the console, {args.duration:.0f} s a run, ")
    print(f"          {args.backlog} pending items; each node one gunicorn sync worker")
    print("  nodes  claims/s  PostgreSQL busy  CPU ms a claim")
    for nodes, run in claims.items():
        busy = run.cpu_ms["db"] / 1000 / run.ended
        claimed = len(run.cycle_s)
        cpu = per(run.cpu_ms, claimed)
        print(f"  {nodes:5}  {run.rate():8.0f}  {busy:5.2f} of {cores} cores  {cpu}")
    print(f"  growth: {flattens({n: run.rate() for n, run in claims.items()})}")
    # An item decided, then sampled for a blind second review, is claimed again by another
    # reviewer: not a double claim. A double claim is a claim while the item is held.
    with psycopg.connect(url) as db:
        doubles = (db.execute(OVERLAPPING_CLAIMS).fetchone() or (0,))[0]
    print(f"  double claims (a claim of an item held, in the audit log): {doubles}")
    if doubles:
        raise SystemExit("bench: FAILED: an item was claimed while held")
    print("RSS MB:   web " + ", ".join(f"{mb:.0f}" for mb in web_rss))
    print("          RQ workers " + ", ".join(f"{mb:.0f}" for mb in worker_rss))
    print(target("rss_web_mb", max(web_rss), TARGET_RSS_MB, "MB"))
    print(target("rss_worker_mb", max(worker_rss), TARGET_RSS_MB, "MB"))


if __name__ == "__main__":
    main()
