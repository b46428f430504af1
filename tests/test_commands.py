"""The management commands of CONTRACT §2, and the policy categories a migration seeds (§7)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import quote

import django_rq
import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.roles import Role, user_role
from moderation import selectors
from moderation.api.schema import validate_items
from moderation.models import (
    ApiKey,
    BatchStatus,
    CategoryAlias,
    FlaggedItem,
    InboundBatch,
    Organization,
    PolicyCategory,
    Subject,
)
from moderation.queues import ingest_job_id
from moderation.services import ingest
from moderation.services.ingest import batch_process
from tests.conftest import SignedKey, make_item
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()


def logs_in(username: str, password: str) -> bool:
    """Through the real log in form (django-axes refuses a bare Client.login)."""
    response = Client().post("/accounts/login/", {"username": username, "password": password})
    return response.status_code == 302 and response["Location"] == "/queue/"


def run(*args: Any, **options: Any) -> str:
    """call_command, returning what the command wrote to stdout."""
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def run_json(*args: Any, **options: Any) -> dict[str, Any]:
    out = run(*args, **options)
    assert out.count("\n") <= 1, f"more than one line on stdout: {out!r}"
    return json.loads(out)


def manage(*argv: str) -> subprocess.CompletedProcess[str]:
    """`python manage.py ...` in a child process, on the test database (it sees committed rows)."""
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    url = f"postgres://{user}{password}@{host}/{db['NAME']}"
    return subprocess.run(
        [sys.executable, "manage.py", *argv],
        cwd=Path(django_settings.BASE_DIR),
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )


def signed(key_id: str, secret: str) -> SignedKey:
    return SignedKey(ApiKey.objects.get(key_id=key_id), secret, Client())


# --- add_user ----------------------------------------------------------------------------


def test_add_user_creates_a_user_with_a_role_and_a_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("RITA_PASSWORD", "a long enough password")
    out = run("add_user", "rita", "--role", "reviewer", "--password-env", "RITA_PASSWORD")
    assert out.strip() == "created rita as reviewer"
    rita = User.objects.get(username="rita")
    assert rita.check_password("a long enough password")
    assert user_role(rita) == Role.REVIEWER
    assert logs_in("rita", "a long enough password")


@pytest.mark.parametrize("role", ["reviewer", "senior", "admin"])
def test_add_user_gives_each_role(monkeypatch, role):
    monkeypatch.setenv("PW", "pw-for-everyone")
    run("add_user", "someone", "--role", role, "--password-env", "PW")
    assert user_role(User.objects.get(username="someone")) == Role(role)


def test_add_user_changes_the_role_of_an_existing_user_and_keeps_the_password():
    UserFactory(username="sam", role=Role.REVIEWER)
    out = run("add_user", "sam", "--role", "senior")
    assert out.strip() == "updated sam as senior"
    sam = User.objects.get(username="sam")
    assert {g.name for g in sam.groups.all()} == {"senior"}
    assert sam.check_password(PASSWORD)
    assert User.objects.filter(username="sam").count() == 1


def test_add_user_sets_a_new_password_for_an_existing_user(monkeypatch):
    UserFactory(username="sam", role=Role.REVIEWER)
    monkeypatch.setenv("SAM_PASSWORD", "a brand new password")
    run("add_user", "sam", "--role", "reviewer", "--password-env", "SAM_PASSWORD")
    assert User.objects.get(username="sam").check_password("a brand new password")


@pytest.mark.parametrize("value", [None, ""])
def test_add_user_refuses_a_missing_or_empty_password_variable(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    else:
        monkeypatch.setenv("NOT_SET_ANYWHERE", value)
    with pytest.raises(CommandError, match="NOT_SET_ANYWHERE"):
        run("add_user", "rita", "--role", "reviewer", "--password-env", "NOT_SET_ANYWHERE")
    assert not User.objects.filter(username="rita").exists()


def test_add_user_prompts_for_the_password_twice(monkeypatch):
    answers = iter(["typed at the prompt", "typed at the prompt"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    run("add_user", "ada", "--role", "admin")
    assert User.objects.get(username="ada").check_password("typed at the prompt")


def test_add_user_refuses_prompted_passwords_that_differ(monkeypatch):
    answers = iter(["one password", "another password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    with pytest.raises(CommandError, match="do not match"):
        run("add_user", "ada", "--role", "admin")
    assert not User.objects.filter(username="ada").exists()


@pytest.mark.parametrize("argv", [["rita"], ["rita", "--role", "owner"]])
def test_add_user_requires_a_known_role(argv):
    with pytest.raises(CommandError, match="--role"):
        run("add_user", *argv)


# --- create_api_key ----------------------------------------------------------------------


def test_create_api_key_prints_the_key_as_one_json_object(acme):
    printed = run_json("create_api_key", "acme classifier", "--organization", "acme")
    assert set(printed) == {"key_id", "secret", "ingest_url"}
    assert printed["secret"].startswith("whsec_")
    assert len(base64.b64decode(printed["secret"].removeprefix("whsec_"))) == 32
    assert printed["ingest_url"] == f"/api/v1/flags/{printed['key_id']}"
    api_key = ApiKey.objects.get(key_id=printed["key_id"])
    assert api_key.name == "acme classifier"
    assert api_key.organization == acme
    assert Organization.objects.count() == 1


def test_create_api_key_creates_a_missing_organization(db):
    printed = run_json("create_api_key", "initech filter", "--organization", "initech")
    initech = Organization.objects.get(slug="initech")
    assert ApiKey.objects.get(key_id=printed["key_id"]).organization == initech


def test_create_api_key_without_an_organization_makes_an_unbound_key(acme):
    printed = run_json("create_api_key", "shared classifier")
    assert ApiKey.objects.get(key_id=printed["key_id"]).organization is None
    # An unbound key names the organization in every item.
    key = signed(printed["key_id"], printed["secret"])
    assert key.post(make_item(1)).status_code == 422
    assert key.post(make_item(1, organization="acme")).status_code == 202


def test_create_api_key_makes_a_new_key_each_time(db):
    first = run_json("create_api_key", "clf", "--organization", "acme")
    second = run_json("create_api_key", "clf", "--organization", "acme")
    assert first["key_id"] != second["key_id"]
    assert first["secret"] != second["secret"]


@pytest.mark.parametrize("slug", ["Not A Slug", "acme/evil", ""])
def test_create_api_key_refuses_an_organization_that_is_no_slug(db, slug):
    with pytest.raises(CommandError, match="slug"):
        run("create_api_key", "clf", "--organization", slug)
    assert not ApiKey.objects.exists()
    assert not Organization.objects.exists()


def test_the_printed_secret_signs_flags_the_api_accepts(db):
    printed = run_json("create_api_key", "acme classifier", "--organization", "acme")
    key = signed(printed["key_id"], printed["secret"])
    response = key.client.post(
        printed["ingest_url"],
        data=json.dumps(make_item(1)),
        content_type="application/json",
        headers=key.headers(json.dumps(make_item(1))),
    )
    assert response.status_code == 202
    status = key.client.get(f"/api/v1/batches/{response.json()['batch_id']}", headers=key.bearer())
    assert status.status_code == 200


# --- rotate_api_key / revoke_api_key -----------------------------------------------------


def test_rotate_api_key_adds_a_secret_while_the_old_one_keeps_working(db):
    printed = run_json("create_api_key", "clf", "--organization", "acme")
    rotated = run_json("rotate_api_key", printed["key_id"])
    assert rotated["key_id"] == printed["key_id"]
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != printed["secret"]
    key = signed(printed["key_id"], printed["secret"])
    assert key.post(make_item(1)).status_code == 202
    assert key.post(make_item(2), secret=rotated["secret"]).status_code == 202


def test_rotate_api_key_retire_old_leaves_only_the_newest_secret(db):
    printed = run_json("create_api_key", "clf", "--organization", "acme")
    rotated = run_json("rotate_api_key", printed["key_id"])
    retired = run_json("rotate_api_key", printed["key_id"], "--retire-old")
    assert retired == {"key_id": printed["key_id"], "revoked": 1}
    key = signed(printed["key_id"], printed["secret"])
    assert key.post(make_item(1)).status_code == 401
    assert key.post(make_item(2), secret=rotated["secret"]).status_code == 202


def test_a_second_rotation_retires_the_oldest_secret(db):
    printed = run_json("create_api_key", "clf", "--organization", "acme")
    second = run_json("rotate_api_key", printed["key_id"])["secret"]
    third = run_json("rotate_api_key", printed["key_id"])["secret"]
    key = signed(printed["key_id"], printed["secret"])
    assert key.post(make_item(1)).status_code == 401
    assert key.post(make_item(2), secret=second).status_code == 202
    assert key.post(make_item(3), secret=third).status_code == 202


def test_revoke_api_key_stops_signing_and_reading_at_once(db):
    printed = run_json("create_api_key", "clf", "--organization", "acme")
    key = signed(printed["key_id"], printed["secret"])
    batch_id = key.post(make_item(1)).json()["batch_id"]
    rotated = run_json("rotate_api_key", printed["key_id"])["secret"]

    assert run("revoke_api_key", printed["key_id"]).strip() == f"revoked {printed['key_id']}"

    assert key.post(make_item(2)).status_code == 401
    assert key.post(make_item(3), secret=rotated).status_code == 401
    bearer = {"Authorization": f"Bearer {rotated}"}
    assert key.client.get(f"/api/v1/batches/{batch_id}", headers=bearer).status_code == 401


@pytest.mark.parametrize("command", ["rotate_api_key", "revoke_api_key"])
def test_key_commands_refuse_an_unknown_or_revoked_key(db, command):
    with pytest.raises(CommandError, match="no active API key"):
        run(command, "key_doesnotexist")
    printed = run_json("create_api_key", "clf", "--organization", "acme")
    run("revoke_api_key", printed["key_id"])
    with pytest.raises(CommandError, match="no active API key"):
        run(command, printed["key_id"])


# --- set_enforcement_endpoint ------------------------------------------------------------


def test_set_enforcement_endpoint_stores_the_url_and_prints_the_secret(acme):
    printed = run_json("set_enforcement_endpoint", "acme", "https://acme.example/hooks/enforce")
    assert set(printed) == {"secret"}
    assert printed["secret"].startswith("whsec_")
    acme.refresh_from_db()
    assert acme.enforcement_url == "https://acme.example/hooks/enforce"
    assert acme.enforcement_secret == printed["secret"]


def test_setting_the_endpoint_again_replaces_url_and_secret(acme):
    first = run_json("set_enforcement_endpoint", "acme", "https://acme.example/a")
    second = run_json("set_enforcement_endpoint", "acme", "http://127.0.0.1:9000/b")
    assert first["secret"] != second["secret"]
    acme.refresh_from_db()
    assert (acme.enforcement_url, acme.enforcement_secret) == (
        "http://127.0.0.1:9000/b",
        second["secret"],
    )


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "ftp://acme.example/hook",
        "javascript:alert(1)",
        "https://",
        "/relative",
        "https://acme.example/" + "a" * 2000,
    ],
    ids=["words", "ftp", "javascript", "no-host", "relative", "too-long"],
)
def test_set_enforcement_endpoint_refuses_a_bad_url(acme, url):
    with pytest.raises(CommandError, match="URL"):
        run("set_enforcement_endpoint", "acme", url)
    acme.refresh_from_db()
    assert (acme.enforcement_url, acme.enforcement_secret) == ("", "")


def test_set_enforcement_endpoint_refuses_an_unknown_organization(db):
    with pytest.raises(CommandError, match="initech"):
        run("set_enforcement_endpoint", "initech", "https://initech.example/hook")
    assert not Organization.objects.exists()


# --- From a shell: stdout, stderr and exit status ----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_from_a_shell_create_api_key_prints_only_its_json_and_the_secret_works():
    done = manage("create_api_key", "shell classifier", "--organization", "initech")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert done.stdout.strip().count("\n") == 0
    key = signed(printed["key_id"], printed["secret"])
    assert key.api_key.organization.slug == "initech"
    assert key.post(make_item(1)).status_code == 202


@pytest.mark.django_db(transaction=True)
def test_from_a_shell_set_enforcement_endpoint_refusals_exit_non_zero(acme):
    unknown = manage("set_enforcement_endpoint", "initech", "https://initech.example/hook")
    assert unknown.returncode != 0
    assert "initech" in unknown.stderr and unknown.stdout == ""

    bad = manage("set_enforcement_endpoint", "acme", "ftp://acme.example/hook")
    assert bad.returncode != 0
    assert "ftp://acme.example/hook" in bad.stderr and bad.stdout == ""
    assert "Traceback" not in unknown.stderr + bad.stderr
    acme.refresh_from_db()
    assert acme.enforcement_url == ""


# --- seed_demo ---------------------------------------------------------------------------


def seed_inline(settings: Any, capture: Any, *argv: str) -> str:
    """seed_demo as `make demo` runs it without Redis: each batch processed on commit."""
    settings.MODQUEUE_INLINE_JOBS = True
    with capture(execute=True):
        return run("seed_demo", *argv)


def test_seed_demo_loads_users_organizations_and_300_items_through_ingest(
    settings, django_capture_on_commit_callbacks
):
    out = seed_inline(settings, django_capture_on_commit_callbacks)
    roles = {u.username: user_role(u) for u in User.objects.all()}
    assert roles == {"reviewer": Role.REVIEWER, "senior": Role.SENIOR, "admin": Role.ADMIN}
    assert logs_in("reviewer", "modqueue-demo")
    assert set(Organization.objects.values_list("slug", flat=True)) == {"acme", "globex"}

    assert FlaggedItem.objects.count() == 300
    assert FlaggedItem.objects.filter(organization__slug="acme").count() == 150
    assert FlaggedItem.objects.filter(batch__isnull=True).count() == 0
    assert set(InboundBatch.objects.values_list("status", flat=True)) == {BatchStatus.PROCESSED}
    assert FlaggedItem.objects.filter(queue="critical").exists()
    assert FlaggedItem.objects.filter(queue="standard").exists()
    assert Subject.objects.count() > 10
    assert "accepted 300 flagged items" in out
    assert "modqueue-demo" in out


def test_seed_demo_twice_creates_no_duplicate_items(settings, django_capture_on_commit_callbacks):
    seed_inline(settings, django_capture_on_commit_callbacks)
    seed_inline(settings, django_capture_on_commit_callbacks)
    assert FlaggedItem.objects.count() == 300
    assert User.objects.count() == 3
    assert ApiKey.objects.count() == 1
    second_run = InboundBatch.objects.order_by("-received_at")[:4]
    assert sum(b.duplicates for b in second_run) == 300
    assert sum(b.created for b in second_run) == 0


def test_seed_demo_takes_the_password_from_the_environment(
    settings, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setenv("MODQUEUE_DEMO_PASSWORD", "a demo of our own")
    out = seed_inline(settings, django_capture_on_commit_callbacks, "--items", "10")
    assert logs_in("admin", "a demo of our own")
    assert "a demo of our own" in out
    assert FlaggedItem.objects.count() == 10


def test_seed_demo_with_redis_leaves_its_batches_to_the_workers(db):
    out = run("seed_demo", "--items", "250")
    pending = InboundBatch.objects.filter(status=BatchStatus.PENDING)
    assert FlaggedItem.objects.count() == 0
    assert "(4 batches still queued)" in out
    for batch in pending:
        batch_process(batch_id=str(batch.pk))
    assert FlaggedItem.objects.count() == 250


# --- The policy categories a migration seeds (CONTRACT §7) -------------------------------

SEVERITIES = {
    "weapons": ("critical", True),
    "autonomous-weapons": ("critical", True),
    "mass-surveillance": ("critical", True),
    "malicious-cyber": ("high", True),
    "disinformation": ("high", True),
    "censorship": ("high", True),
    "child-safety": ("critical", True),
    "foreign-intelligence": ("high", False),
}
OTHER_SLUGS = {"violence", "hate", "harassment", "self-harm", "sexual", "fraud", "privacy", "other"}
ALIASES = {
    "S": "sexual",
    "H": "hate",
    "V": "violence",
    "HR": "harassment",
    "SH": "self-harm",
    "S3": "child-safety",
    "H2": "hate",
    "V2": "violence",
}


def test_the_migration_seeds_every_policy_category(db):
    slugs = set(PolicyCategory.objects.values_list("slug", flat=True))
    assert slugs >= set(SEVERITIES) | OTHER_SLUGS
    for category in PolicyCategory.objects.all():
        assert category.name
        assert category.severity in {"low", "medium", "high", "critical"}


def test_the_seeded_categories_carry_their_severity_and_hard_limit(db):
    seeded = {
        c.slug: (c.severity, c.hard_limit)
        for c in PolicyCategory.objects.filter(slug__in=SEVERITIES)
    }
    assert seeded == SEVERITIES


def test_only_the_contracts_hard_limits_are_hard_limits(db):
    hard = set(PolicyCategory.objects.filter(hard_limit=True).values_list("slug", flat=True))
    assert hard == {slug for slug, (_, is_hard) in SEVERITIES.items() if is_hard}


def test_the_migration_seeds_the_eight_corpus_labels_as_aliases(db):
    assert dict(CategoryAlias.objects.values_list("alias", "category__slug")) == ALIASES


def test_periodic_once_runs_the_housekeeping(
    signed_key, redis_clean, django_capture_on_commit_callbacks
):
    """The Redis-less demo's stand-in for the workers' periodic tasks."""
    valid, _ = validate_items(
        make_item(1),
        key_organization="acme",
        organizations={"acme"},
        category_for_label=selectors.category_labels(),
    )
    batch, _ = ingest.batch_accept(api_key=signed_key.api_key, webhook_id="w-periodic", items=valid)
    InboundBatch.objects.filter(pk=batch.pk).update(enqueued_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        call_command("periodic", "--once")
    assert django_rq.get_queue("ingest").job_ids == [ingest_job_id(batch.pk)]
