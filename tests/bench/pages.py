"""Pages at scale: each page's p95 of 20 loads ≤ 300 ms at 1,000,000 items; web RSS ≤ 150 MB.

`make bench` runs this script (not a pytest test). It loads its own database with the
operations bench's loader (tests/bench/operations.py: 1,000,000 items over 30 days, 997,000
decisions, deliveries, queue samples), then adds an audit row for each claim and each decision
(about 2,000,000) and moves 10,000 of the items (one in a hundred, over the 30 days) to one
subject. It starts gunicorn as `make serve` does (2 sync workers), signs an admin in and loads
each page 20 times after two warm-up loads: the queue, an item, the 10,000-item subject, the
audit log, the operations dashboard for 24 hours, 7 days and 30 days (served from the
snapshots the app's refresh computes just before, as the workers' sweep would), the quality
and the classifier reports. Last it reads the resident memory of the gunicorn workers.
See docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from statistics import quantiles

import psycopg
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
from tests.bench.operations import app_here, manage, prepare, refresh_snapshots  # noqa: E402

TARGET_P95_MS, TARGET_RSS_MB = 300.0, 150.0
LOADS, WARMUP = 20, 2
SUBJECT_ITEMS = 10_000

# One claim and one decision row in the audit log for each decision, at its times.
LOAD_AUDIT = """
INSERT INTO moderation_auditevent (at, action, target, detail, actor_id, item_id, subject_id)
SELECT e.at, e.action, 'item:' || d.item_id, '{}'::jsonb, d.reviewer_id, d.item_id, i.subject_id
FROM moderation_decision d JOIN moderation_flaggeditem i ON i.id = d.item_id
CROSS JOIN LATERAL (VALUES (d.claimed_at, 'item.claim'), (d.decided_at, 'item.decide'))
    e(at, action)"""
# One item in a hundred (spread over the 30 days, a few still waiting) to the first subject.
LOAD_BIG_SUBJECT = """
UPDATE moderation_flaggeditem SET subject_id = (SELECT min(id) FROM moderation_subject)
WHERE id IN (SELECT id FROM moderation_flaggeditem ORDER BY id DESC LIMIT %(count)s * 100)
  AND id %% 100 = 0"""
FACTS = """
SELECT o.slug, s.user_id_hash,
       (SELECT count(*) FROM moderation_flaggeditem WHERE subject_id = s.id),
       (SELECT max(item_id) FROM moderation_decision),
       (SELECT count(*) FROM moderation_auditevent)
FROM moderation_subject s JOIN moderation_organization o ON o.id = s.organization_id
WHERE s.id = (SELECT min(id) FROM moderation_subject)"""


def add_scale(url: str, env: dict[str, str]) -> None:
    """The audit rows, the 10,000-item subject, and an admin to sign in."""
    began = time.perf_counter()
    manage(env, "add_user", "boss", "--role", "admin", "--password-env", PASSWORD_VAR)
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(LOAD_AUDIT)
        db.execute(LOAD_BIG_SUBJECT, {"count": SUBJECT_ITEMS})
        db.execute("VACUUM ANALYZE")
    print(f"bench: audit rows and the big subject in {time.perf_counter() - began:.0f}s")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def processes(needle: str) -> list[int]:
    """Process ids whose command line holds `needle`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if needle in cmdline.read_bytes().decode(errors="replace"):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def web_rss(port: int) -> list[float]:
    pids = processes(f"127.0.0.1:{port}")
    workers = [pid for pid in pids if parent_of(pid) in pids]
    return [rss_mb(pid) for pid in workers or pids]


def cut_ms(seconds: list[float]) -> tuple[float, float]:
    """p50 and p95 in ms; a failed load (inf) makes both infinite."""
    if len(seconds) < 2 or float("inf") in seconds:
        return float("inf"), float("inf")
    cut = quantiles(seconds, n=20)
    return cut[9] * 1000, cut[18] * 1000


def target(name: str, figure: float, goal: float, unit: str) -> str:
    verdict = "MET" if figure <= goal else "NOT MET"
    return f"TARGET {name}: {figure:.1f} {unit} (target {goal:.0f}) {verdict}"


def timed_loads(admin: Reviewer, path: str, expect: str, loads: int) -> list[float]:
    """Seconds of each load; a load that fails (gunicorn's 30 s timeout answers 500) ends the
    page's loads and is counted as infinitely slow, so its target is NOT MET."""
    seconds: list[float] = []
    for _ in range(loads):
        began = time.perf_counter()
        status, _, page = admin.send("GET", path)
        seconds.append(time.perf_counter() - began)
        if status != 200 or expect not in page:
            print(f"bench: {path} answered {status} without {expect!r}", flush=True)
            admin.connection.close()  # a killed worker's connection is gone
            return [*seconds[:-1], float("inf"), float("inf")]
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000, help="items (1000000)")
    parser.add_argument("--skip-load", action="store_true", help="reuse the loaded database")
    parser.add_argument("--only", default="", help="comma-separated page names (all)")
    parser.add_argument("--loads", type=int, default=LOADS, help="timed loads a page (20)")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/modqueue_bench_pages")
    env = {**os.environ, "DATABASE_URL": url, PASSWORD_VAR: PASSWORD}
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    env.pop("DEBUG", None)  # production settings, as `make serve` runs them
    env.update(SECRET_KEY="bench-secret-key", MODQUEUE_SUBJECT_PEPPER="bench-pepper")
    load_before = os.getloadavg()[0]
    if not args.skip_load:
        prepare(url, env, items=args.items, waiting=3_000)
        add_scale(url, env)
    with psycopg.connect(url, autocommit=True) as db:
        org, user_hash, subject_items, item, audit_rows = db.execute(FACTS).fetchone() or ()
    pages = {
        "queue": ("/queue/", "<main"),
        "item": (f"/items/{item}/", "<main"),
        "subject_10k": (f"/subjects/{org}/{user_hash}/", "<main"),
        "audit": ("/audit/", "<main"),
        "operations_24h": ("/reports/operations/?period=24h", "Queues against their targets"),
        "operations_7d": ("/reports/operations/?period=7d", "Queues against their targets"),
        "operations_30d": ("/reports/operations/?period=30d", "Queues against their targets"),
        "quality": ("/reports/quality/", "<main"),
        "classifiers": ("/reports/classifiers/", "<main"),
    }
    if args.only:
        pages = {name: pages[name] for name in args.only.split(",")}
    results: dict[str, list[float]] = {}
    cpu: dict[str, tuple[float, float]] = {}  # CPU ms a load: web workers, PostgreSQL
    dbname = str(conninfo_to_dict(url)["dbname"])
    refreshed = False
    with gunicorn(env, "--workers 2", "--threads 1") as port:
        admin = Reviewer(port, "boss").login()
        for name, (path, expect) in pages.items():
            if name.startswith("operations_") and not refreshed:
                # As production serves them: the snapshots a worker's sweep computes.
                app_here(env)
                costs = refresh_snapshots(dbname)
                print(
                    "bench: operations snapshots refreshed: "
                    + ", ".join(f"{p} {c.wall:.0f} ms" for p, c in costs.items()),
                    flush=True,
                )
                refreshed = True
            for _ in range(WARMUP):
                admin.send("GET", path)
            web, db = cpu_ms(f"127.0.0.1:{port}"), cpu_ms(f" {dbname} ")
            results[name] = timed_loads(admin, path, expect, args.loads)
            cpu[name] = (
                used(web, cpu_ms(f"127.0.0.1:{port}")) / len(results[name]),
                used(db, cpu_ms(f" {dbname} ")) / len(results[name]),
            )
            print(f"bench: {name} done", flush=True)
        rss = web_rss(port)
    print(f"\ndate:     {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\nmachine:  {machine()}")
    print(f"load:     {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (1-minute average)")
    print(
        f"table:    {args.items} items over 30 days, {audit_rows} audit rows, "
        f"a subject with {subject_items} items; gunicorn 2 sync workers, signed in as an admin"
    )
    for name, seconds in results.items():
        p50, p95 = cut_ms(seconds)
        print(
            f"{name:15} {pages[name][0]:40} p50 {p50:7.1f} ms  "
            f"p95 {p95:7.1f} ms  CPU a load: web {cpu[name][0]:6.1f} ms, "
            f"PostgreSQL {cpu[name][1]:6.1f} ms  ({len(seconds)} loads)"
        )
    print("web RSS:  " + ", ".join(f"{mb:.0f} MB" for mb in rss) + " (each gunicorn worker)")
    for name, seconds in results.items():
        print(target(f"page_{name}_p95_ms", cut_ms(seconds)[1], TARGET_P95_MS, "ms"))
    print(target("rss_web_mb", max(rss), TARGET_RSS_MB, "MB"))


if __name__ == "__main__":
    main()
