"""Shared fixtures: named actors, signed-in clients per role, decisions by the reviewer, a
signed-request client for the flags API, real Redis."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import django_rq
import pytest
from django.test import Client
from standardwebhooks.webhooks import Webhook

from accounts.roles import Role
from moderation.models import ApiKey, Subject, Verdict
from moderation.services.organizations import api_key_create

from .factories import OrganizationFactory, UserFactory, decide
from .privacy import Record, record_of_alice


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """A test database of this run's own, so two runs on one machine never drop each other's."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("postgresql"):
        db.setdefault("TEST", {})["NAME"] = f"test_{db['NAME']}_{os.getpid()}"


@pytest.fixture(autouse=True)
def _fast_passwords_and_plain_static(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Pages render without `collectstatic`; the process tests serve collected files.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # Each test client builds its own middleware, and WhiteNoise would scan STATIC_ROOT each
    # time: a process test's `collectstatic` in the other xdist worker may be rewriting it
    # (a FileNotFoundError in the scan was seen). Looked up per request instead, as in DEBUG.
    settings.WHITENOISE_AUTOREFRESH = True


@pytest.fixture
def redis_clean() -> Iterator[Any]:
    """The test Redis database (REDIS_URL, db 15 under `make test`), emptied before and after."""
    connection = django_rq.get_connection("ingest")
    connection.flushdb()
    yield connection
    connection.flushdb()


@pytest.fixture
def acme(db: None) -> Any:
    return OrganizationFactory(slug="acme", name="Acme AI")


@pytest.fixture
def globex(db: None) -> Any:
    return OrganizationFactory(slug="globex", name="Globex")


class SignedKey:
    """An API key and its secret, with a client that signs like an upstream classifier."""

    def __init__(self, api_key: ApiKey, secret: str, client: Client) -> None:
        self.api_key = api_key
        self.secret = secret
        self.client = client

    @property
    def url(self) -> str:
        return f"/api/v1/flags/{self.api_key.key_id}"

    def headers(
        self,
        body: str,
        *,
        msg_id: str | None = None,
        timestamp: float | None = None,
        secret: str | None = None,
    ) -> dict[str, str]:
        msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
        ts = int(timestamp if timestamp is not None else time.time())
        from datetime import UTC, datetime

        signature = Webhook(secret or self.secret).sign(
            msg_id, datetime.fromtimestamp(ts, tz=UTC), body
        )
        return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}

    def post(
        self,
        payload: Any,
        *,
        raw: bytes | None = None,
        content_type: str = "application/json",
        **header_options: Any,
    ) -> Any:
        body = raw if raw is not None else json.dumps(payload).encode()
        headers = self.headers(body.decode("utf-8", "replace"), **header_options)
        return self.client.post(self.url, data=body, content_type=content_type, headers=headers)

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


@pytest.fixture
def signed_key(acme: Any, client: Client) -> SignedKey:
    api_key, secret = api_key_create(name="acme classifier", organization_slug="acme")
    return SignedKey(api_key, secret, client)


@pytest.fixture
def other_key(globex: Any, client: Client) -> SignedKey:
    api_key, secret = api_key_create(name="globex classifier", organization_slug="globex")
    return SignedKey(api_key, secret, client)


@pytest.fixture
def unbound_key(acme: Any, globex: Any, client: Client) -> SignedKey:
    api_key, secret = api_key_create(name="shared classifier", organization_slug=None)
    return SignedKey(api_key, secret, client)


def make_item(n: int = 0, **overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "request_id": f"req_{n:04d}",
        "user_id": f"u-{n % 7}",
        "prompt": f"Tell me how to hurt someone, variant {n}",
        "response": "I can't help with that.",
        "model": "claude-sonnet",
        "signals": [{"classifier": "violence-v2", "category": "violence", "score": 0.91}],
        "metadata": {"surface": "api"},
    }
    item.update(overrides)
    return item


@pytest.fixture
def item() -> Callable[..., dict[str, Any]]:
    return make_item


@pytest.fixture
def reviewer(db: None) -> Any:
    return UserFactory(username="rita", role=Role.REVIEWER)


@pytest.fixture
def senior(db: None) -> Any:
    return UserFactory(username="sam", role=Role.SENIOR)


@pytest.fixture
def admin_user(db: None) -> Any:
    return UserFactory(username="ada", role=Role.ADMIN)


# Signed-in clients, one per role: each is the test's `client`, signed in as that user, so a
# test that also asks for `client` (or signs it in as someone else) works on the same one.


@pytest.fixture
def reviewer_client(client: Client, reviewer: Any) -> Client:
    client.force_login(reviewer)
    return client


@pytest.fixture
def senior_client(client: Client, senior: Any) -> Client:
    client.force_login(senior)
    return client


@pytest.fixture
def admin_client(client: Client, admin_user: Any) -> Client:
    """Signed in as "ada" (the project's admin role, not pytest-django's superuser)."""
    client.force_login(admin_user)
    return client


@pytest.fixture
def roleless_client(client: Client, db: None) -> Client:
    """Signed in as "nobody", a user without a role: 403 on all but logging in and out."""
    nobody = UserFactory(username="nobody")
    nobody.groups.clear()
    client.force_login(nobody)
    return client


@pytest.fixture
def record(acme: Any, reviewer: Any, senior: Any) -> Record:
    """Alice, an end user of acme with everything modqueue can hold about her (tests/privacy.py),
    and Bob, whose record must stay as it is."""
    return record_of_alice(acme, reviewer, senior)


@pytest.fixture
def reviewer_decides(reviewer: Any) -> Callable[..., Subject]:
    """reviewer_decides(subject, "VVN", "fraud"): the reviewer decides a new item of the
    subject per letter, in order (V a violation in the named categories, "violence" if none
    is named; N no violation), through `decide`; the subject comes back refreshed."""
    verdicts = {"V": Verdict.VIOLATION, "N": Verdict.NO_VIOLATION}

    def record(subject: Subject, letters: str, *slugs: str) -> Subject:
        for letter in letters:
            decide(subject, verdicts[letter], *slugs, reviewer=reviewer)
        subject.refresh_from_db()
        return subject

    return record


def _reseed_migration_data() -> None:
    """Put back what data migrations seed (policy categories, role groups, queue targets).

    A transactional test ends by emptying every table, migration data included. Under
    pytest-xdist a worker may run any test after it, so the data is put back right after that
    flush (`_reseed_after_flush`), and again as each transactional test starts.
    """
    import importlib

    from django.apps import apps

    from moderation.models import DEFAULT_TARGET_MINUTES, QueueTarget

    for module in (
        "moderation.migrations.0002_seed_policy_categories",
        "accounts.migrations.0001_roles",
    ):
        migration = importlib.import_module(module)
        seed = getattr(migration, "seed", None) or migration.create_groups
        seed(apps, None)
    for queue, minutes in DEFAULT_TARGET_MINUTES.items():
        QueueTarget.objects.get_or_create(queue=queue, defaults={"target_minutes": minutes})


@pytest.fixture(scope="session", autouse=True)
def _reseed_after_flush() -> Iterator[None]:
    """A transactional test's closing flush sends post_migrate (as `manage.py flush` does):
    the migration data goes back at once, before the next test, whichever file it is in."""
    from django.db.models.signals import post_migrate

    def reseed(sender: Any, **kwargs: Any) -> None:
        if getattr(sender, "label", "") == "moderation":
            _reseed_migration_data()

    post_migrate.connect(reseed, weak=False, dispatch_uid="tests-reseed-after-flush")
    yield
    post_migrate.disconnect(dispatch_uid="tests-reseed-after-flush")


@pytest.fixture(scope="session", autouse=True)
def _test_flush_may_empty_the_audit_log() -> Iterator[None]:
    """The audit log refuses TRUNCATE (migration 0012), and a transactional test ends with a
    flush, one TRUNCATE of every table. Only the test harness lifts the guard, around that
    flush and as the owner role: the trigger is disabled and enabled again in one transaction.
    tests/test_audit_role.py proves the guard holds for everything else."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush(self: DatabaseOperations, style: Any, tables: Any, **kwargs: Any) -> list[str]:
        statements = original(self, style, tables, **kwargs)
        if statements and "moderation_auditevent" in tables:
            guard = "moderation_auditevent_no_truncate"
            statements = [
                f"ALTER TABLE moderation_auditevent DISABLE TRIGGER {guard}",
                *statements,
                f"ALTER TABLE moderation_auditevent ENABLE TRIGGER {guard}",
            ]
        return statements

    DatabaseOperations.sql_flush = sql_flush  # type: ignore[method-assign]
    yield
    DatabaseOperations.sql_flush = original  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _migration_data_in_transactional_tests(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(marker and marker.kwargs.get("transaction")) or any(
        name in request.fixturenames for name in ("transactional_db", "live_server")
    )
    if transactional:
        request.getfixturevalue("transactional_db")
        _reseed_migration_data()


@pytest.fixture
def second_review_live() -> None:
    """The blind second review's draw left to chance (seed `second_review.rng`)."""


@pytest.fixture(autouse=True)
def _second_review_drawn_only_at_100(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default share (5 %) would send a random few of any test's decisions to a second
    review: the draw never hits below 100 % unless a test asks for `second_review_live`."""
    if "second_review_live" in request.fixturenames:
        return
    from moderation.services import second_review

    monkeypatch.setattr(second_review.rng, "random", lambda: 1.0)


@pytest.fixture(autouse=True)
def _auth_failures_counted_per_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """Failed API authentications are counted per client address (CONTRACT §3 v2), and the
    test client is always 127.0.0.1: each test counts under its own Redis prefix and starts
    with an empty in-memory count, so failures of other tests (or of another run sharing the
    test Redis) never push one into a 429."""
    from moderation.api import ratelimit

    monkeypatch.setattr(
        ratelimit, "AUTH_FAILURE_PREFIX", f"modqueue:test:{uuid.uuid4().hex}:authfail:"
    )
    ratelimit._memory_failures.clear()


# Where the tests' made-up platforms live. `.example` names never resolve (RFC 2606), yet
# they stand for a platform's public endpoint, which set_enforcement_endpoint only accepts
# on a public address (CONTRACT §2 v2). They resolve here to a public address, only for
# the address rule (moderation/services/addresses.resolve); a delivery's connection to one
# still fails as the name does not resolve, so nothing is ever sent to that address.
# Other names resolve for real; a test that needs a name elsewhere patches `resolve` itself.
EXAMPLE_PUBLIC_ADDRESS = "93.184.215.14"


def _is_example(host: str) -> bool:
    return host.rstrip(".").endswith(".example")


@pytest.fixture(autouse=True)
def _example_names_are_public(monkeypatch: pytest.MonkeyPatch) -> None:
    import ipaddress
    import socket

    from moderation.services import addresses, deliveries

    real_resolve, real_connect = addresses.resolve, deliveries.connect_public

    def resolve(host: str) -> list[addresses.IPAddress]:
        if _is_example(host):
            return [ipaddress.ip_address(EXAMPLE_PUBLIC_ADDRESS)]
        return real_resolve(host)

    def connect_public(address: tuple[str, int], *args: Any) -> socket.socket:
        if _is_example(address[0]):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_connect(address, *args)

    monkeypatch.setattr(addresses, "resolve", resolve)
    monkeypatch.setattr(deliveries, "connect_public", connect_public)
