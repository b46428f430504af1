"""The claim request A/B in one process: the one-statement claim against the claim in steps.

Run after `tests/bench/claims.py`, on the database it leaves (its backlog, its reviewers):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/modqueue_bench_claims \\
        .venv/bin/python tests/bench/claims_ab.py --rounds 6 --claims 200

Each round makes `--claims` claim requests (POST /queue/next/ through Django's test client,
signed in as reviewer r1; each claimed item is then decided in SQL so that the next request
claims again) first with services/claims.py's one-statement claim (A), then with the same
claim in steps, select-for-update then update by key, as SQLite runs it (B). It prints the
process CPU (user + system) per request and the PostgreSQL backend's CPU per request for
each, round by round, so that both halves see the same machine. It writes rows (claims,
audit rows, decided items): run claims.py again for a clean database.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

DECIDE = """
UPDATE moderation_flaggeditem SET state = 'decided', decided_at = now(), claimed_by_id = NULL,
    claimed_at = NULL, lease_expires_at = NULL
WHERE id = %s AND state = 'claimed' AND claimed_by_id = %s"""


class _InSteps:
    """Stands in for `django.db.connection` in services/claims.py: a vendor without the
    one-statement claim, so claim_next takes its stepwise path."""

    vendor = "in-steps"


def backend_cpu_ms(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:13]) * 1000 / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--claims", type=int, default=200, help="claim requests a half round")
    args = parser.parse_args()
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1/modqueue_bench_claims")
    os.environ.setdefault("SECRET_KEY", "bench-secret-key")
    os.environ.setdefault("MODQUEUE_SUBJECT_PEPPER", "bench-pepper")
    os.environ.pop("DEBUG", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moderation.settings")
    import django

    django.setup()
    from unittest import mock

    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    from moderation.services import claims

    user = User.objects.get(username="r1")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]

    def half(n: int) -> tuple[float, float]:
        cpu, db = time.process_time(), backend_cpu_ms(pid)
        for _ in range(n):
            response = client.post("/queue/next/")
            location = response.headers.get("Location", "")
            if response.status_code != 302 or not location.startswith("/items/"):
                raise SystemExit(f"claims_ab: POST /queue/next/ answered {response.status_code}")
            item = int(location.strip("/").split("/")[1])
            with connection.cursor() as cursor:
                cursor.execute(DECIDE, [item, user.pk])
                if cursor.rowcount != 1:
                    raise SystemExit(f"claims_ab: item {item} was not claimed by r1")
        return (time.process_time() - cpu) * 1000 / n, (backend_cpu_ms(pid) - db) / n

    half(20)  # warm-up: templates, the ORM's caches
    with mock.patch.object(claims, "connection", _InSteps):
        half(20)
    one, steps = [], []
    for r in range(args.rounds):
        one.append(half(args.claims))
        with mock.patch.object(claims, "connection", _InSteps):
            steps.append(half(args.claims))
        print(
            f"round {r + 1}: one statement: app {one[-1][0]:.2f} ms, db {one[-1][1]:.2f} ms;"
            f" in steps: app {steps[-1][0]:.2f} ms, db {steps[-1][1]:.2f} ms",
            flush=True,
        )
    for name, runs in (("one statement", one), ("in steps", steps)):
        app, db = median(r[0] for r in runs), median(r[1] for r in runs)
        print(f"{name:14} median CPU ms a claim request: app {app:.2f}, db {db:.2f}")


if __name__ == "__main__":
    main()
