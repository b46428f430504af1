"""Incremental figures: CPU per decision for a subject with 10,000 decisions in its window.

`make bench` runs this script (not a pytest test). It rebuilds its own database, gives one
subject 10,000 counted decisions inside the window (one in ten a violation, none critical),
and records decisions on that subject's items through the review service in-process
(`decision_record`, each in its own transaction, as the web app does), in two ways, in
alternating blocks of the same run:

- "recount": the figures counted afresh from the window's decisions and the situation read
  from them, as every decision did before issue 12 (the service's recount path, which
  threshold changes still take);
- "incremental": the figures moved by the one decision (`figures_move`), the situation read
  from the stored figures.

Printed: queries and CPU per decision of this process and of its PostgreSQL backend (from
/proc), for each way. See docs/performance.md, "Reviewer cycle: incremental figures".
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

CLOCK_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")
WINDOW_DECISIONS = 10_000


def proc_cpu_ms(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * CLOCK_TICK_MS


def recreate(url: str) -> None:
    name = sql.Identifier(str(conninfo_to_dict(url)["dbname"]))
    with psycopg.connect(url, dbname="postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(name))
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"bench: migrate failed:\n{done.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=300, help="per way")
    parser.add_argument("--block", type=int, default=25, help="decisions per alternating block")
    args = parser.parse_args()
    url = os.environ["DATABASE_URL"]
    print(f"bench: recreating {url}", flush=True)
    recreate(url)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moderation.settings")
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from accounts.roles import Role, role_set
    from moderation.models import (
        Decision,
        FlaggedItem,
        ItemState,
        Organization,
        PolicyCategory,
        ReviewQueue,
        Subject,
        Verdict,
    )
    from moderation.services import enforcement, review
    from moderation.services.rates import subject_recount

    org = Organization.objects.create(slug="bench", name="Bench")
    subject = Subject.objects.create(organization=org, user_id_hash="f" * 64)
    reviewer = User.objects.create_user("bench-reviewer")
    role_set(user=reviewer, role=Role.REVIEWER)
    hate = PolicyCategory.objects.get(slug="hate")
    now = timezone.now()

    def items(count: int, *, prefix: str, state: str, ago: timedelta) -> list[FlaggedItem]:
        return FlaggedItem.objects.bulk_create(
            FlaggedItem(
                organization=org,
                subject=subject,
                request_id=f"{prefix}-{i}",
                prompt="bench prompt",
                flagged_at=now - ago,
                received_at=now - ago,
                queued_at=now - ago,
                due_at=now,
                queue=ReviewQueue.STANDARD,
                state=state,
            )
            for i in range(count)
        )

    began = time.perf_counter()
    history = items(WINDOW_DECISIONS, prefix="past", state=ItemState.DECIDED, ago=timedelta(1))
    past = Decision.objects.bulk_create(
        Decision(
            item=item,
            reviewer=reviewer,
            verdict=Verdict.VIOLATION if i % 10 == 0 else Verdict.NO_VIOLATION,
            claimed_at=now - timedelta(days=1, minutes=i % 1000),
            decided_at=now - timedelta(days=1, seconds=i),
            from_queue=ReviewQueue.STANDARD,
        )
        for i, item in enumerate(history)
    )
    Decision.categories.through.objects.bulk_create(
        Decision.categories.through(decision_id=d.pk, policycategory_id=hate.pk)
        for d in past
        if d.verdict == Verdict.VIOLATION
    )
    waiting = items(2 * args.decisions, prefix="now", state=ItemState.PENDING, ago=timedelta(0))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    figures = subject_recount(subject=subject)
    print(
        f"bench: subject with {figures.reviewed} decisions ({figures.violations} violations) "
        f"in its window, made in {time.perf_counter() - began:.0f} s",
        flush=True,
    )

    incremental = enforcement.enforcement_evaluate

    def recounting(**kwargs: Any) -> Any:
        # The pre-issue-12 path: the figures recounted and the situation read from the window.
        kwargs.pop("started", None)
        return incremental(**kwargs)

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    totals = {way: {"web": 0.0, "db": 0.0, "queries": 0, "n": 0} for way in ("recount", "incr")}
    queue = iter(waiting)
    done = 0
    while done < 2 * args.decisions:
        for way in ("recount", "incr"):
            review.enforcement_evaluate = recounting if way == "recount" else incremental  # type: ignore[attr-defined]
            for _ in range(args.block):
                item = next(queue)
                violation = done % 10 == 0
                web0, db0 = time.process_time(), proc_cpu_ms(backend)
                with CaptureQueriesContext(connection) as captured:
                    review.decision_record(
                        item=item,
                        reviewer=reviewer,
                        verdict=Verdict.VIOLATION if violation else Verdict.NO_VIOLATION,
                        categories=[hate] if violation else [],
                        note="",
                    )
                row = totals[way]
                row["web"] += (time.process_time() - web0) * 1000
                row["db"] += proc_cpu_ms(backend) - db0
                row["queries"] += len(captured)
                row["n"] += 1
                done += 1
    review.enforcement_evaluate = incremental  # type: ignore[attr-defined]
    subject.refresh_from_db()
    stored = (subject.violations, subject.reviewed)
    checked = subject_recount(subject=subject)
    assert stored == (checked.violations, checked.reviewed), (stored, checked)
    print(f"bench: figures after the run {stored} equal a recount", flush=True)
    per: dict[str, float] = {}
    for way, row in totals.items():
        n = row["n"]
        per[way] = (row["web"] + row["db"]) / n
        print(
            f"{way:>8}: {row['queries'] / n:.1f} queries, web {row['web'] / n:.2f} ms + "
            f"PostgreSQL {row['db'] / n:.2f} ms CPU a decision ({n} decisions)",
            flush=True,
        )
    print(
        f"incremental figures: {per['incr']:.2f} ms CPU a decision against "
        f"{per['recount']:.2f} ms recounting ({per['recount'] / per['incr']:.1f}x less)"
    )


if __name__ == "__main__":
    main()
