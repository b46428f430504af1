"""The reviewer cycle: CPU per htmx decision and its p99 with 50 reviewers deciding every 2 s.

`make bench` runs this script (not a pytest test). It rebuilds its own database: 1,000,000
pending items (real corpus prompts, a signal each) belonging to a few subjects that each have
10,000 counted decisions in their window, all inserted with `INSERT … SELECT generate_series`,
then VACUUM ANALYZE. It starts the web app as `make serve` does and signs in 50 reviewers.
Each one sends the console's htmx decision (`POST /items/<id>/decide/` with `HX-Request`:
records, recounts, acts, audits, claims the next item and renders it in place) every 2 s for
60 s. Printed: CPU per decision of the gunicorn processes and the bench database's PostgreSQL
backends (from /proc), and the decision's p50/p99. Targets (issue 12): CPU ≤ 12 ms a decision,
p99 ≤ 100 ms. See docs/performance.md, "Reviewer cycle".
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
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
from tests.bench.claims import (  # noqa: E402
    PASSWORD,
    PASSWORD_VAR,
    Reviewer,
    cpu_ms,
    gunicorn,
    machine,
    used,
)

TARGET_CPU_MS, TARGET_P99_MS = 12.0, 100.0
WARMUP = 2  # untimed decisions per reviewer: every gunicorn worker has loaded its views
VIOLATION_EVERY = 10  # one decision in ten is a violation (a non-critical category)

# The other reviewers share the first one's password hash and role (one PBKDF2 run, not 50).
LOAD_REVIEWERS = """
WITH u AS (
    INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
        is_staff, is_active, date_joined)
    SELECT (SELECT password FROM auth_user WHERE username = 'r1'), false, 'r' || r, '', '', '',
           false, true, now()
    FROM generate_series(2, %(reviewers)s) r RETURNING id)
INSERT INTO auth_user_groups (user_id, group_id)
SELECT u.id, g.group_id FROM u CROSS JOIN auth_user_groups g
JOIN auth_user r1 ON r1.id = g.user_id AND r1.username = 'r1'"""
LOAD_SUBJECTS = """
INSERT INTO moderation_subject
    (organization_id, user_id_hash, status, violations, reviewed, created_at, updated_at)
SELECT %(org)s, encode(sha256(convert_to('bench:' || s, 'UTF8')), 'hex'), 'active', 0, 0,
       now() - interval '60 days', now()
FROM generate_series(1, %(subjects)s) s RETURNING id"""
# Item i: corpus sample i mod 1,680 as its prompt, flagged in the sample's strongest category,
# arriving 0.6 s after item i-1 (a week of backlog), routed and prioritised as ingest does.
LOAD_PENDING = """
INSERT INTO moderation_flaggeditem (organization_id, subject_id, request_id, prompt, response,
    model, metadata, flagged_at, received_at, priority, queued_at, due_at, queue, state)
SELECT %(org)s, %(first_subject)s + i %% %(subjects)s, 'bench-' || i, s.prompt, '',
       s.model, jsonb_build_object('source', 'moderation-samples-1680', 'sample', s.n),
       t.at - interval '2 seconds', t.at,
       round(s.score * CASE c.severity WHEN 'critical' THEN 4 WHEN 'high' THEN 3
                                       WHEN 'medium' THEN 2 ELSE 1 END * 1000)::int,
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
# Each subject's window: `decided` items decided over the last 25 days (the window is 30).
LOAD_DECIDED = """
INSERT INTO moderation_flaggeditem (organization_id, subject_id, request_id, prompt, response,
    model, metadata, flagged_at, received_at, priority, queued_at, due_at, queue, state,
    decided_at)
SELECT %(org)s, %(first_subject)s + i %% %(subjects)s, 'bench-d-' || i, 'decided item ' || i,
       '', 'bench-model', '{}'::jsonb, t.at, t.at, 1000, t.at, t.at, 'standard', 'decided',
       t.at + interval '5 minutes'
FROM generate_series(1, %(decided)s) i
CROSS JOIN LATERAL (
    SELECT now() - interval '25 days' * (%(decided)s - i)::float / %(decided)s
           - interval '10 minutes' AS at) t"""
# One violation in 50 (a non-critical category), the rest no violation: every subject warned.
LOAD_DECISIONS = """
INSERT INTO moderation_decision (item_id, reviewer_id, verdict, note, claimed_at, decided_at,
    seconds_spent, from_queue, content_seen, void_reason)
SELECT i.id, %(reviewer)s, CASE WHEN i.id %% 50 = 0 THEN 'violation' ELSE 'no_violation' END,
       '', i.decided_at - interval '30 seconds', i.decided_at, 30, 'standard', true, ''
FROM moderation_flaggeditem i WHERE i.state = 'decided'"""
LOAD_DECISION_CATEGORIES = """
INSERT INTO moderation_decision_categories (decision_id, policycategory_id)
SELECT d.id, %(category)s FROM moderation_decision d WHERE d.verdict = 'violation'"""
# The figures as the app stores them (the recount), and the status they call for.
RECOUNT = """
from moderation.models import Subject
from moderation.services.rates import subject_recount
for subject in Subject.objects.select_related("organization"):
    subject_recount(subject=subject)
Subject.objects.filter(violations__gt=0).update(status="warned")
"""
# Every decision sent is in the database: a Decision, or the blind second answer kept in its
# second review (a share of decisions waits for one, services/second_review.py).
CHECKS = """
SELECT (SELECT count(*) FROM moderation_decision WHERE decided_at > %(since)s)
         + (SELECT count(*) FROM moderation_secondreview WHERE decided_at > %(since)s),
       (SELECT min(reviewed) FROM moderation_subject),
       (SELECT count(*) FROM moderation_flaggeditem WHERE state = 'pending')"""


def manage(env: dict[str, str], *argv: str) -> None:
    command = [sys.executable, "manage.py", *argv]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"bench: manage.py {' '.join(argv)} failed:\n{done.stderr}")


def prepare(url: str, env: dict[str, str], args: argparse.Namespace) -> None:
    """A fresh database, migrated, with the reviewers, the subjects' windows and the backlog."""
    print(f"bench: recreating {url}", flush=True)
    name = sql.Identifier(str(conninfo_to_dict(url)["dbname"]))
    with psycopg.connect(url, dbname="postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(name))
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "add_user", "r1", "--role", "reviewer", "--password-env", PASSWORD_VAR)
    began = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(LOAD_REVIEWERS, {"reviewers": args.reviewers})
        samples = corpus_items(organization="bench")
        db.execute(
            "CREATE TEMP TABLE bench_sample"
            " (n int, prompt text, model text, label text, score real)"
        )
        with db.cursor().copy("COPY bench_sample FROM STDIN") as copy:
            for n, item in enumerate(samples):
                top = max(item["signals"], key=lambda s: s["score"])
                copy.write_row((n, item["prompt"], item["model"], top["category"], top["score"]))
        org = db.execute(
            "INSERT INTO moderation_organization (slug, name, enforcement_url,"
            " enforcement_secret, enforcement_allow_private, created_at)"
            " VALUES ('bench', 'Bench', '', '', false, now()) RETURNING id"
        ).fetchone()
        given: dict[str, Any] = {"org": org and org[0], "subjects": args.subjects}
        given["first_subject"] = min(r[0] for r in db.execute(LOAD_SUBJECTS, given).fetchall())
        reviewer = db.execute("SELECT id FROM auth_user WHERE username = 'r1'").fetchone()
        category = db.execute(
            "SELECT id FROM moderation_policycategory WHERE severity <> 'critical' ORDER BY id"
        ).fetchone()
        given |= {"reviewer": reviewer and reviewer[0], "category": category and category[0]}
        db.execute(LOAD_DECIDED, {**given, "decided": args.subjects * args.window})
        db.execute(LOAD_DECISIONS, given)
        db.execute(LOAD_DECISION_CATEGORIES, given)
        db.execute(LOAD_PENDING, {**given, "items": args.items, "samples": len(samples)})
        db.execute(LOAD_SIGNALS)
        db.execute("VACUUM ANALYZE")
    manage(env, "shell", "-c", RECOUNT)
    print(f"bench: loaded in {time.perf_counter() - began:.0f}s", flush=True)


class Console(Reviewer):
    """A reviewer with JavaScript: the console's htmx requests (HX-Request, the CSRF header)."""

    def __init__(self, port: int, username: str) -> None:
        super().__init__(port, username)
        self.connection.timeout = 300  # an overloaded server is measured, not given up on

    def htmx(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, str], str]:
        headers = {
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
            "Content-Type": "application/x-www-form-urlencoded",
            "HX-Request": "true",
            "HX-Current-URL": f"http://127.0.0.1{path}",
            "X-CSRFToken": self.cookies.get("csrftoken", ""),
        }
        self.connection.request("POST", path, body=urlencode(form, doseq=True), headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode()
        return response.status, dict(response.getheaders()), text

    def decide(self, item: int, *, violation: bool = False, category: int = 0) -> int:
        """Decide in place: the answer is the next item's partial, its URL pushed."""
        form: dict[str, Any] = {"verdict": "no_violation"}
        if violation:
            form = {"verdict": "violation", "categories": [str(category)]}
        status, headers, text = self.htmx(f"/items/{item}/decide/", form)
        pushed = re.fullmatch(r"/items/(\d+)/", headers.get("HX-Push-Url", ""))
        if status != 200 or pushed is None or 'value="no_violation"' not in text:
            raise RuntimeError(f"{self.username}: decide {item} answered {status} {text[:300]!r}")
        return int(pushed.group(1))


def run(
    reviewers: list[Console], *, every: float, duration: float, category: int, probes: dict
) -> tuple[list[float], dict[str, float], float, list[int]]:
    """Each reviewer decides every `every` seconds (from a random start), WARMUP untimed
    decisions first. CPU counters are read as the timed window opens and closes."""
    latencies: list[float] = []
    decided: list[int] = []
    lock, errors = threading.Lock(), list[BaseException]()
    warm = threading.Barrier(len(reviewers))
    window: dict[str, float] = {}
    marks: list[dict[str, dict[int, float]]] = []

    def mark() -> None:
        marks.append({name: probe() for name, probe in probes.items()})

    def reviewer(index: int, console: Console) -> None:
        try:
            held = console.claim()
            assert held is not None, "nothing to claim"
            rng = random.Random(index)
            for _ in range(WARMUP):
                held = console.decide(held)
            if warm.wait() == 0:
                mark()
                window["start"] = time.perf_counter() + every
            warm.wait()
            start = window["start"] + rng.uniform(0, every)
            n = 0
            end = window["start"] + duration
            while True:
                due = start + n * every
                # An overloaded server makes reviewers late: none starts after the window.
                if due >= end or time.perf_counter() >= end:
                    break
                time.sleep(max(0.0, due - time.perf_counter()))
                violation = (index + n) % VIOLATION_EVERY == 0
                began = time.perf_counter()
                was = held
                held = console.decide(held, violation=violation, category=category)
                with lock:
                    latencies.append(time.perf_counter() - began)
                    decided.append(was)
                n += 1
        except BaseException as error:  # reported after the join
            errors.append(error)
            warm.abort()

    threads = [threading.Thread(target=reviewer, args=(i, c)) for i, c in enumerate(reviewers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        errors.sort(key=lambda error: isinstance(error, threading.BrokenBarrierError))
        raise SystemExit(f"bench: a reviewer failed: {errors[0]!r}")
    elapsed = time.perf_counter() - window["start"]
    mark()
    cpu = {name: used(marks[0][name], marks[1][name]) for name in probes}
    return latencies, cpu, elapsed, decided


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000, help="pending items (1000000)")
    parser.add_argument("--subjects", type=int, default=10, help="subjects (10)")
    parser.add_argument("--window", type=int, default=10_000, help="decisions each (10000)")
    parser.add_argument("--reviewers", type=int, default=50, help="reviewers (50)")
    parser.add_argument("--every", type=float, default=2.0, help="s between decisions (2)")
    parser.add_argument("--duration", type=float, default=60, help="timed seconds (60)")
    web = int(os.environ.get("WEB_CONCURRENCY") or 4)
    parser.add_argument("--web-workers", type=int, default=web, help="as make serve (4)")
    parser.add_argument("--threads", type=int, default=1, help="threads a worker (1: sync)")
    parser.add_argument("--skip-load", action="store_true", help="reuse the loaded database")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1/modqueue_bench_cycle")
    env = {**os.environ, "DATABASE_URL": url, PASSWORD_VAR: PASSWORD}
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    env.pop("DEBUG", None)  # production settings, as `make serve` runs them
    env.update(SECRET_KEY="bench-secret-key", MODQUEUE_SUBJECT_PEPPER="bench-pepper")
    load_before = os.getloadavg()[0]
    if not args.skip_load:
        prepare(url, env, args)
    manage(env, "collectstatic", "--noinput", "-v0")  # the manifest the pages' assets need
    names = [f"r{n}" for n in range(1, args.reviewers + 1)]
    dbname = str(conninfo_to_dict(url)["dbname"])
    with psycopg.connect(url, autocommit=True) as db:
        # A reused database: give back what an earlier run left claimed.
        db.execute(
            "UPDATE moderation_flaggeditem SET state = 'pending', claimed_by_id = NULL,"
            " claimed_at = NULL, lease_expires_at = NULL WHERE state = 'claimed'"
        )
        row = db.execute(
            "SELECT id FROM moderation_policycategory WHERE severity <> 'critical' ORDER BY id"
        ).fetchone()
        category = row[0] if row else 0
        since = db.execute("SELECT now()").fetchone()
        db.execute("CHECKPOINT")
        server = [f"--workers {args.web_workers}", f"--threads {args.threads}"]
        with gunicorn(env, *server) as port:
            probes = {
                "web": lambda: cpu_ms(f"127.0.0.1:{port}"),  # gunicorn's command line
                "db": lambda: cpu_ms(dbname),  # the bench database's backends
            }
            with ThreadPoolExecutor(2) as pool:  # each log in hashes a password
                reviewers = list(pool.map(lambda name: Console(port, name).login(), names))
            latencies, cpu, elapsed, decided = run(
                reviewers,
                every=args.every,
                duration=args.duration,
                category=category,
                probes=probes,
            )
        got = db.execute(CHECKS, {"since": since and since[0]}).fetchone() or ()
    count = len(decided)
    per = {name: ms / count for name, ms in cpu.items()}
    cut = quantiles(latencies, n=100)
    p50, p99 = cut[49] * 1000, cut[98] * 1000
    print(f"\ndate:     {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\nmachine:  {machine()}")
    print(f"load:     {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (1-minute average)")
    print(
        f"data:     {got[2]} pending items, {args.subjects} subjects with at least {got[1]}"
        f" counted decisions in their window"
    )
    print(
        f"run:      {args.reviewers} reviewers, one htmx decision every {args.every:g} s each,"
        f" {elapsed:.0f} s; gunicorn {' '.join(server)}"
    )
    print(
        f"decided:  {count} ({count / elapsed:.1f}/s), each recorded, audited and followed by"
        " the next claim"
    )
    print(f"latency:  p50 {p50:.1f} ms  p99 {p99:.1f} ms  max {max(latencies) * 1000:.1f} ms")
    print(f"CPU ms a decision: web {per['web']:.1f}, db {per['db']:.1f}")
    total_ms = per["web"] + per["db"]
    for name, figure, target in [
        ("cycle_cpu_ms", total_ms, TARGET_CPU_MS),
        ("cycle_p99_ms", p99, TARGET_P99_MS),
    ]:
        met = "MET" if figure <= target else "NOT MET"
        print(f"TARGET {name}: {figure:.1f} (target {target:g}) {met}")
    # An item may be decided twice (a first decision, then its blind second answer).
    total = WARMUP * len(names) + len(decided)
    if got[0] != total:
        raise SystemExit(f"bench: FAILED: {total} decisions sent, database has {got[0]}")


if __name__ == "__main__":
    main()
