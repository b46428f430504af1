"""The audit log holds against the app's restricted role (issue 9, finding 3; docs/deploy.md).

The web server and the workers connect as a role that docs/deploy/app-role.sql grants what the
app needs and, on the audit table, only SELECT and INSERT. Each test makes such a role of its
own, runs that very file with psql as the documented command does, and connects as the role:
UPDATE, DELETE and TRUNCATE of the audit log are refused, and so is lifting the triggers. The
owner, which may do anything else, is still refused by the triggers (migrations 0004, 0012).
And the app works on those grants alone: its commands, the flags API, the ingest job, claims,
decisions and enforcement, in a child process connected as the role, and the reviewer's and
the audit pages on a test connection of the role. PostgreSQL only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client

from moderation.models import (
    AuditAction,
    AuditEvent,
    Decision,
    EnforcementAction,
    FlaggedItem,
    QualitySettings,
)
from moderation.services.audit import audit_record

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
GRANTS = ROOT / "docs" / "deploy" / "app-role.sql"
REFUSED = "permission denied|must be owner"


def owner_url(*, user: str | None = None) -> str:
    db = connection.settings_dict
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{user or db['USER'] or 'postgres'}@{host}:{port}/{db['NAME']}"


@pytest.fixture
def app_role() -> Iterator[str]:
    """A login role of this run's own (trust authentication on 127.0.0.1, no password), with
    the grants of docs/deploy/app-role.sql applied by the owner, as after a migrate."""
    role = f"modqueue_app_test_{os.getpid()}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        grant = [
            *("psql", owner_url(), "-q", "-v", "ON_ERROR_STOP=1"),
            *("-v", f"app_role={role}", "-f", str(GRANTS)),
        ]
        for _ in range(2):  # and once more: the script is run after every migrate
            done = subprocess.run(grant, capture_output=True, text=True, timeout=30)
            assert done.returncode == 0, done.stderr
        yield role
    finally:
        with connection.cursor() as cursor:
            # Takes back its grants and default privileges here, so the role can go.
            cursor.execute(f'DROP OWNED BY "{role}"')
            cursor.execute(f'DROP ROLE "{role}"')


def connect_as(role: str) -> psycopg.Connection[Any]:
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        dbname=db["NAME"],
        user=role,
        autocommit=True,
    )


def audit_rows() -> list[tuple[Any, ...]]:
    return list(AuditEvent.objects.order_by("pk").values_list("pk", "action", "target", "detail"))


@pytest.fixture
def logged() -> list[tuple[Any, ...]]:
    """Two rows in the audit log, written by the app as the owner."""
    audit_record(actor=None, action=AuditAction.ROLE_CHANGE, target="rita", detail={"to": "x"})
    audit_record(actor=None, action=AuditAction.POLICY_SETTINGS, detail={"sample": 5})
    return audit_rows()


def test_the_app_role_reads_and_adds_to_the_audit_log(app_role, logged):
    with connect_as(app_role) as app:
        assert app.execute("SELECT count(*) FROM moderation_auditevent").fetchone() == (2,)
        row = app.execute(
            "INSERT INTO moderation_auditevent (at, action, target, detail)"
            " VALUES (now(), 'role.change', 'sam', '{}') RETURNING id"
        ).fetchone()
    assert row is not None
    assert AuditEvent.objects.get(pk=row[0]).target == "sam"
    assert audit_rows() == [*logged, (row[0], "role.change", "sam", {})]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE moderation_auditevent SET target = 'nobody'",
        "DELETE FROM moderation_auditevent",
        "TRUNCATE moderation_auditevent",
        "TRUNCATE moderation_auditevent CASCADE",
        "DROP TRIGGER moderation_auditevent_no_truncate ON moderation_auditevent",
        "DROP TRIGGER moderation_auditevent_append_only ON moderation_auditevent",
        "ALTER TABLE moderation_auditevent DISABLE TRIGGER moderation_auditevent_no_truncate",
        "ALTER TABLE moderation_auditevent DISABLE TRIGGER ALL",
        "ALTER TABLE moderation_auditevent OWNER TO CURRENT_USER",
        "DROP TABLE moderation_auditevent CASCADE",
    ],
)
def test_the_app_role_may_not_change_empty_or_unguard_the_audit_log(app_role, logged, statement):
    with connect_as(app_role) as app, pytest.raises(psycopg.Error, match=REFUSED) as refused:
        app.execute(statement)
    assert isinstance(refused.value, psycopg.errors.InsufficientPrivilege)
    assert audit_rows() == logged
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'moderation_auditevent'::regclass"
            " AND NOT tgisinternal AND tgenabled = 'O' ORDER BY tgname"
        )
        assert [name for (name,) in cursor.fetchall()] == [
            "moderation_auditevent_append_only",
            "moderation_auditevent_no_truncate",
        ]


def test_the_app_role_may_still_change_the_other_tables(app_role, logged):
    """The grant is per table: the audit log's exception takes nothing from the rest."""
    names = "SELECT name FROM auth_group WHERE name IN ('trainees', 'interns')"
    with connect_as(app_role) as app:
        app.execute("INSERT INTO auth_group (name) VALUES ('trainees')")
        app.execute("UPDATE auth_group SET name = 'interns' WHERE name = 'trainees'")
        assert app.execute(names).fetchall() == [("interns",)]
        app.execute("DELETE FROM auth_group WHERE name = 'interns'")
        assert app.execute(names).fetchall() == []


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE moderation_auditevent SET target = 'nobody'",
        "DELETE FROM moderation_auditevent",
        "TRUNCATE moderation_auditevent",
        "TRUNCATE moderation_auditevent CASCADE",
    ],
)
def test_the_owner_is_refused_by_the_triggers(logged, statement):
    """The owner's connections (migrations, a shell) have every privilege: the triggers still
    refuse. TRUNCATE skips row triggers; the statement trigger of migration 0012 refuses it."""
    operation = statement.split()[0]
    with (
        pytest.raises(DatabaseError, match=f"append-only: {operation} refused"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert audit_rows() == logged


# Run by `manage.py shell` as the app role: an upstream classifier posts five flags for one
# user to the signed API, the ingest job (in-process without REDIS_URL, as in the demo) files
# them, and a reviewer claims and decides each: five violations warn, restrict and propose
# removal (services/enforcement.py), each step with its audit rows.
REVIEW_SESSION = """
import os
from django.contrib.auth import get_user_model
from django.test import Client
from moderation.models import ApiKey, PolicyCategory, Verdict
from moderation.services.claims import claim_next
from moderation.services.review import decision_record
from tests.conftest import SignedKey, make_item

key = ApiKey.objects.get(key_id=os.environ["KEY_ID"])
flags = SignedKey(key, os.environ["KEY_SECRET"], Client())
answer = flags.post({"items": [make_item(n, user_id="u-1") for n in range(5)]})
assert answer.status_code == 202, (answer.status_code, answer.content)
rita = get_user_model().objects.get(username="rita")
violence = list(PolicyCategory.objects.filter(slug="violence"))
for _ in range(5):
    item = claim_next(user=rita)
    assert item is not None
    decision_record(
        item=item, reviewer=rita, verdict=Verdict.VIOLATION, categories=violence, note=""
    )
"""


def manage_as(role: str, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    return subprocess.run(
        [sys.executable, "manage.py", *argv],
        cwd=ROOT,
        env={**environ, "DATABASE_URL": owner_url(user=role), "ALLOWED_HOSTS": "testserver", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_app_works_with_only_the_app_roles_grants(app_role):
    # No golden item or blind second review may take one of the five decisions aside: the
    # subprocess draws for real (the default 5 % sampled one now and then), and this test is
    # about grants, not sampling.
    QualitySettings.objects.update_or_create(
        pk=1, defaults={"gold_percent": Decimal(0), "second_review_percent": Decimal(0)}
    )
    created = manage_as(app_role, "create_api_key", "classifier", "--organization", "acme")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    added = manage_as(
        app_role,
        *("add_user", "rita", "--role", "reviewer", "--password-env", "RITA_PASSWORD"),
        RITA_PASSWORD="correct horse battery staple",
    )
    assert added.returncode == 0, added.stderr

    session = manage_as(
        app_role,
        *("shell", "-c", REVIEW_SESSION),
        KEY_ID=key["key_id"],
        KEY_SECRET=key["secret"],
    )
    assert session.returncode == 0, session.stderr

    assert FlaggedItem.objects.filter(state="decided").count() == 5
    assert Decision.objects.count() == 5
    kinds = set(EnforcementAction.objects.values_list("kind", "state"))
    assert {kind for kind, _ in kinds} >= {"warn", "restrict", "remove"}, kinds
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", "actor__username"))
    assert actions[0] == (AuditAction.ROLE_CHANGE, None)
    assert actions.count((AuditAction.ITEM_CLAIM, "rita")) == 5
    assert actions.count((AuditAction.ITEM_DECIDE, "rita")) == 5
    assert (AuditAction.ENFORCEMENT_TAKEN, None) in actions
    assert (AuditAction.ENFORCEMENT_PROPOSED, None) in actions


@pytest.fixture
def as_app_role(app_role: str) -> Iterator[None]:
    """From here on the test's own connection is the app role's, so the pages and the jobs
    the test runs in-process use its grants; the owner's is back for the teardown's flush."""
    settings_dict = connection.settings_dict
    owner = settings_dict["USER"]
    connection.close()
    settings_dict["USER"] = app_role
    try:
        yield
    finally:
        connection.close()
        settings_dict["USER"] = owner


def test_the_pages_work_with_only_the_app_roles_grants(
    settings, signed_key, item, reviewer_client, admin_user, app_role, as_app_role
):
    settings.MODQUEUE_INLINE_JOBS = True  # the ingest job runs here, after the API's commit
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone() == (app_role,)
    answer = signed_key.post({"items": [item(n, user_id="u-1") for n in range(2)]})
    assert answer.status_code == 202

    for _ in range(2):
        claimed = reviewer_client.post("/queue/next/")
        assert claimed.status_code == 302 and claimed["Location"].startswith("/items/")
        assert reviewer_client.get(claimed["Location"]).status_code == 200
        decided = reviewer_client.post(f"{claimed['Location']}decide/", {"verdict": "no_violation"})
        assert decided.status_code == 302
    assert reviewer_client.get("/queue/").status_code == 200
    admin = Client()
    admin.force_login(admin_user)
    assert admin.get("/audit/").status_code == 200

    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert actions.count(AuditAction.ITEM_CLAIM) == 2
    assert actions.count(AuditAction.ITEM_DECIDE) == 2
    assert FlaggedItem.objects.filter(state="decided").count() == 2
