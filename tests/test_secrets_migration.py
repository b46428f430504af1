"""Migration 0013 encrypts the secrets stored in clear before it, and backwards puts them
back in clear (issue 9, finding 10)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from moderation.models import ApiKeySecret, Organization
from moderation.models.fields import _fernet_key

BEFORE = [("moderation", "0012_audit_two_factor_truncate")]
AFTER = [("moderation", "0013_encrypt_secrets")]
API_SECRET = "whsec_YXBpLWtleS1zZWNyZXQtYmVmb3JlLXRoZS1taWdyYXRpb24="
ENFORCEMENT_SECRET = "whsec_ZW5mb3JjZW1lbnQtc2VjcmV0LWJlZm9yZS10aGUtbWlncmF0aW9u"


def stored() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM moderation_apikeysecret")
        [api] = cursor.fetchone()
        cursor.execute("SELECT enforcement_secret FROM moderation_organization WHERE slug = 'old'")
        [enforcement] = cursor.fetchone()
    return {"api": api, "enforcement": enforcement}


@pytest.fixture
def executor(transactional_db: None) -> Iterator[MigrationExecutor]:
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    executor.migrate(BEFORE)
    yield executor
    executor = MigrationExecutor(connection)
    executor.migrate(leaves)


def test_it_encrypts_the_plaintext_rows_and_backwards_decrypts_them(executor):
    old_apps = executor.loader.project_state(BEFORE).apps
    organization = old_apps.get_model("moderation", "Organization").objects.create(
        slug="old",
        name="Old",
        enforcement_url="https://old.example/",
        enforcement_secret=ENFORCEMENT_SECRET,
    )
    api_key = old_apps.get_model("moderation", "ApiKey").objects.create(
        key_id="key_old", name="old", organization=organization
    )
    old_apps.get_model("moderation", "ApiKeySecret").objects.create(
        api_key=api_key, secret=API_SECRET, digest="d" * 64
    )
    assert stored() == {"api": API_SECRET, "enforcement": ENFORCEMENT_SECRET}

    executor.loader.build_graph()
    executor.migrate(AFTER)

    after = stored()
    assert "whsec_" not in after["api"] and "whsec_" not in after["enforcement"]
    fernet = Fernet(_fernet_key(settings.SECRET_KEY))
    assert fernet.decrypt(after["api"].encode()).decode() == API_SECRET
    assert fernet.decrypt(after["enforcement"].encode()).decode() == ENFORCEMENT_SECRET
    assert ApiKeySecret.objects.get(digest="d" * 64).secret == API_SECRET
    assert Organization.objects.get(slug="old").enforcement_secret == ENFORCEMENT_SECRET

    executor.loader.build_graph()
    executor.migrate(BEFORE)
    assert stored() == {"api": API_SECRET, "enforcement": ENFORCEMENT_SECRET}
