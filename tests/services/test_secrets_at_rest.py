"""Secrets at rest (issue 9, finding 10): API key and enforcement secrets are stored
encrypted, so a database dump alone signs nothing; rotation of the key that encrypts them."""

from __future__ import annotations

import base64

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import FieldError
from django.db import connection

from moderation.models import ApiKeySecret, AuditAction, AuditEvent, Organization
from moderation.models.fields import KEY_LABEL, SecretsKeyMismatch, _fernet_key, secrets_keys
from moderation.services.deliveries import delivery_attempt
from moderation.services.organizations import (
    api_key_create,
    api_key_rotate,
    enforcement_endpoint_set,
)
from moderation.services.secrets import secrets_reencrypt
from tests.factories import signed

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("contract_retry_delays")]


def dump() -> list[str]:
    """Every stored secret as a database dump would show it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM moderation_apikeysecret")
        rows = [r[0] for r in cursor.fetchall()]
        cursor.execute("SELECT enforcement_secret FROM moderation_organization")
        rows += [r[0] for r in cursor.fetchall()]
    return [r for r in rows if r]


def assert_not_in_dump(*secrets: str) -> None:
    stored = dump()
    assert stored, "nothing stored"
    for value in stored:
        assert "whsec_" not in value
        for secret in secrets:
            assert secret.removeprefix("whsec_") not in value


def test_the_columns_hold_no_secret_after_create_rotate_and_endpoint_set(acme):
    api_key, first = api_key_create(name="clf", organization_slug="acme")
    second = api_key_rotate(api_key=api_key)
    enforcement = enforcement_endpoint_set(organization=acme, url="https://acme.example/hook")
    assert len(dump()) == 3
    assert_not_in_dump(first, second, enforcement)


def test_the_model_reads_back_the_plaintext(acme):
    api_key, secret = api_key_create(name="clf", organization_slug="acme")
    enforcement = enforcement_endpoint_set(organization=acme, url="https://acme.example/hook")
    assert ApiKeySecret.objects.get(api_key=api_key).secret == secret
    assert Organization.objects.get(pk=acme.pk).enforcement_secret == enforcement


def test_signed_ingest_and_bearer_reads_still_work(signed_key, item):
    assert_not_in_dump(signed_key.secret)
    response = signed_key.post(item(1))
    assert response.status_code == 202
    status = f"/api/v1/batches/{response.json()['batch_id']}"
    assert signed_key.client.get(status, headers=signed_key.bearer()).status_code == 200


def test_enforcement_deliveries_still_verify_at_the_platform(platform, warned):
    receiver = platform()
    assert_not_in_dump(receiver.secret)
    attempt = delivery_attempt(delivery_id=warned().pk)
    assert attempt is not None and attempt.ok
    [got] = receiver.all()
    assert got.verified


def test_a_dump_decrypts_under_the_right_key_only(acme, settings):
    enforcement = enforcement_endpoint_set(organization=acme, url="https://acme.example/hook")
    [stored] = dump()
    right = Fernet(_fernet_key(settings.SECRET_KEY))
    assert right.decrypt(stored.encode()).decode() == enforcement
    wrong = Fernet(_fernet_key("another secret key"))
    with pytest.raises(InvalidToken):
        wrong.decrypt(stored.encode())


def test_under_another_secret_key_ingest_refuses_with_the_setting_to_fix(
    signed_key, item, settings
):
    settings.SECRET_KEY = "another secret key"
    with pytest.raises(SecretsKeyMismatch, match="MODQUEUE_SECRETS_KEY_FALLBACKS"):
        signed_key.post(item(1))


def test_under_another_secret_key_no_delivery_is_signed(platform, warned, settings):
    receiver = platform()
    delivery = warned()
    settings.SECRET_KEY = "another secret key"
    with pytest.raises(SecretsKeyMismatch, match="encrypted under another key"):
        delivery_attempt(delivery_id=delivery.pk)
    assert receiver.all() == []
    delivery.refresh_from_db()
    assert delivery.attempts == 0


def test_the_secrets_key_takes_precedence_over_secret_key(acme, settings):
    settings.MODQUEUE_SECRETS_KEY = "the secrets key"
    enforcement = enforcement_endpoint_set(organization=acme, url="https://acme.example/hook")
    [stored] = dump()
    assert Fernet(_fernet_key("the secrets key")).decrypt(stored.encode()).decode() == enforcement
    with pytest.raises(InvalidToken):
        Fernet(_fernet_key(settings.SECRET_KEY)).decrypt(stored.encode())
    settings.MODQUEUE_SECRETS_KEY = ""
    with pytest.raises(SecretsKeyMismatch):
        Organization.objects.get(pk=acme.pk)


def test_the_key_is_hkdf_of_the_setting_under_a_fixed_label(settings):
    settings.MODQUEUE_SECRETS_KEY = "k"
    settings.MODQUEUE_SECRETS_KEY_FALLBACKS = ["old"]
    settings.SECRET_KEY_FALLBACKS = ["older"]
    assert secrets_keys() == ("k", "old", "older")
    assert KEY_LABEL == b"modqueue secrets at rest v1"
    key = base64.urlsafe_b64decode(_fernet_key("k"))
    assert len(key) == 32 and _fernet_key("k") != _fernet_key("old")


def test_rotation_with_the_old_key_in_the_fallbacks(item, acme, settings):
    settings.MODQUEUE_SECRETS_KEY = "key A"
    api_key, secret = api_key_create(name="clf", organization_slug="acme")
    enforcement = enforcement_endpoint_set(organization=acme, url="https://acme.example/hook")
    before = dump()

    settings.MODQUEUE_SECRETS_KEY = "key B"
    settings.MODQUEUE_SECRETS_KEY_FALLBACKS = ["key A"]
    assert ApiKeySecret.objects.get(api_key=api_key).secret == secret
    assert Organization.objects.get(pk=acme.pk).enforcement_secret == enforcement

    assert secrets_reencrypt() == 2  # the key's secret and acme's
    after = dump()
    assert not set(before) & set(after)
    event = AuditEvent.objects.get(action=AuditAction.SECRETS_REENCRYPT)
    assert event.detail == {"reencrypted": 2}

    settings.MODQUEUE_SECRETS_KEY_FALLBACKS = []
    assert ApiKeySecret.objects.get(api_key=api_key).secret == secret
    assert Organization.objects.get(pk=acme.pk).enforcement_secret == enforcement
    assert signed(api_key.key_id, secret).post(item(1)).status_code == 202
    for stored in after:
        with pytest.raises(InvalidToken):
            Fernet(_fernet_key("key A")).decrypt(stored.encode())


def test_secret_key_fallbacks_decrypt_too(acme, settings):
    enforcement = enforcement_endpoint_set(organization=acme, url="https://acme.example/hook")
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "the new secret key"
    assert Organization.objects.get(pk=acme.pk).enforcement_secret == enforcement


def test_reencrypt_refuses_when_no_key_decrypts(acme, settings):
    enforcement_endpoint_set(organization=acme, url="https://acme.example/hook")
    before = dump()
    settings.SECRET_KEY = "another secret key"
    with pytest.raises(SecretsKeyMismatch):
        secrets_reencrypt()
    assert dump() == before
    assert not AuditEvent.objects.filter(action=AuditAction.SECRETS_REENCRYPT).exists()


def test_reencrypt_encrypts_a_row_left_in_clear(acme):
    Organization.objects.filter(pk=acme.pk).update(enforcement_url="https://acme.example/")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE moderation_organization SET enforcement_secret = %s WHERE id = %s",
            ["whsec_bGVnYWN5LXBsYWludGV4dC1zZWNyZXQtMzJieXRlcw==", acme.pk],
        )
    assert Organization.objects.get(pk=acme.pk).enforcement_secret.startswith("whsec_")
    assert secrets_reencrypt() == 1
    assert_not_in_dump("whsec_bGVnYWN5LXBsYWludGV4dC1zZWNyZXQtMzJieXRlcw==")
    assert Organization.objects.get(pk=acme.pk).enforcement_secret == (
        "whsec_bGVnYWN5LXBsYWludGV4dC1zZWNyZXQtMzJieXRlcw=="
    )


def test_a_lookup_on_an_encrypted_value_is_refused(signed_key):
    with pytest.raises(FieldError, match="digest"):
        ApiKeySecret.objects.filter(secret=signed_key.secret).exists()
    with pytest.raises(FieldError):
        Organization.objects.filter(enforcement_secret="").exists()
