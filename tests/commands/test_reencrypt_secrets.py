"""The reencrypt_secrets command: the step of a rotation of the secrets key (issue 9,
finding 10; docs/security.md, Rotating the secrets key)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError
from django.db import connection

from moderation.models import AuditAction, AuditEvent, Organization
from tests.conftest import make_item
from tests.factories import run_json, signed

pytestmark = pytest.mark.django_db


def stored_secrets() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM moderation_apikeysecret ORDER BY id")
        return [r[0] for r in cursor.fetchall()]


def test_it_reencrypts_every_secret_under_the_new_key_and_prints_the_count(settings):
    settings.MODQUEUE_SECRETS_KEY = "key A"
    created = run_json("create_api_key", "clf", "--organization", "acme")
    run_json("set_enforcement_endpoint", "acme", "https://acme.example/hook")
    before = stored_secrets()

    settings.MODQUEUE_SECRETS_KEY = "key B"
    settings.MODQUEUE_SECRETS_KEY_FALLBACKS = ["key A"]
    assert run_json("reencrypt_secrets") == {"reencrypted": 2}
    assert stored_secrets() != before
    assert AuditEvent.objects.get(action=AuditAction.SECRETS_REENCRYPT).detail == {"reencrypted": 2}

    settings.MODQUEUE_SECRETS_KEY_FALLBACKS = []
    key = signed(created["key_id"], created["secret"])
    assert key.post(make_item(1)).status_code == 202
    assert Organization.objects.get(slug="acme").enforcement_secret.startswith("whsec_")


def test_with_nothing_stored_it_reencrypts_nothing(db):
    assert run_json("reencrypt_secrets") == {"reencrypted": 0}


def test_without_the_old_key_it_fails_naming_the_setting(settings):
    settings.MODQUEUE_SECRETS_KEY = "key A"
    run_json("create_api_key", "clf", "--organization", "acme")
    before = stored_secrets()
    settings.MODQUEUE_SECRETS_KEY = "key B"
    with pytest.raises(CommandError, match="MODQUEUE_SECRETS_KEY_FALLBACKS"):
        run_json("reencrypt_secrets")
    assert stored_secrets() == before
