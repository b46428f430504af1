"""Secrets at rest: a text field stored encrypted, so a database dump alone signs nothing.

Fernet (AES-128-CBC with HMAC-SHA256, from the PyCA `cryptography` library) under a key
derived with HKDF-SHA256 from MODQUEUE_SECRETS_KEY, or SECRET_KEY when that is not set.
MultiFernet decrypts with the older keys listed in MODQUEUE_SECRETS_KEY_FALLBACKS and
SECRET_KEY_FALLBACKS, which is what makes a rotation possible (`reencrypt_secrets`,
docs/security.md "Rotating the secrets key").
"""

from __future__ import annotations

import base64
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.db import models

# Changing the label changes every derived key: it is part of the stored format.
KEY_LABEL = b"modqueue secrets at rest v1"
# A Fernet token is base64url of the version byte 0x80 and a 64-bit timestamp whose top
# bytes are zero for the next few thousand years; a whsec_ secret never starts like this.
TOKEN_PREFIX = "gAAAAA"


class SecretsKeyMismatch(ImproperlyConfigured):
    """A stored secret decrypts under none of the configured keys."""


def _fernet_key(key_material: str) -> bytes:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_LABEL).derive(
        key_material.encode()
    )
    return base64.urlsafe_b64encode(derived)


@lru_cache(maxsize=8)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(_fernet_key(k)) for k in keys])


def secrets_keys() -> tuple[str, ...]:
    """The current key first (it encrypts), then the old ones that may still decrypt."""
    current = settings.MODQUEUE_SECRETS_KEY or settings.SECRET_KEY
    keys = [current, *settings.MODQUEUE_SECRETS_KEY_FALLBACKS, *settings.SECRET_KEY_FALLBACKS]
    return tuple(dict.fromkeys(k for k in keys if k))


def secrets_box() -> MultiFernet:
    return _multi_fernet(secrets_keys())


def is_encrypted(stored: str) -> bool:
    return stored.startswith(TOKEN_PREFIX)


def secret_encrypt(plaintext: str) -> str:
    return secrets_box().encrypt(plaintext.encode()).decode()


def secret_decrypt(stored: str) -> str:
    """The plaintext of a stored value; a legacy plaintext row (before 0013) passes through."""
    if not is_encrypted(stored):
        return stored
    try:
        return secrets_box().decrypt(stored.encode()).decode()
    except InvalidToken:
        # Never a silent wrong signature: refuse, and say which setting fixes it.
        raise SecretsKeyMismatch(
            "stored secrets were encrypted under another key: set "
            "MODQUEUE_SECRETS_KEY_FALLBACKS to the key they were encrypted under (the "
            "previous MODQUEUE_SECRETS_KEY, or SECRET_KEY if MODQUEUE_SECRETS_KEY was not "
            "set), then run `manage.py reencrypt_secrets` (docs/security.md, Rotating the "
            "secrets key)"
        ) from None


def secret_reencrypt(stored: str) -> str:
    """The value encrypted under the current key (a legacy plaintext is encrypted too)."""
    if not is_encrypted(stored):
        return secret_encrypt(stored)
    try:
        return secrets_box().rotate(stored.encode()).decode()
    except InvalidToken:
        secret_decrypt(stored)  # raises the error that names the setting
        raise


class EncryptedTextField(models.TextField):
    """Encrypted on save, decrypted on load; the empty string stays empty.

    Every encryption is different (random IV), so the stored value can be neither looked
    up nor compared: lookups other than isnull are refused. Look a secret up by a digest.
    """

    description = "Text encrypted at rest with Fernet"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if not value:
            return value
        return secret_decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if not value:
            return value
        return secret_encrypt(value)

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name != "isnull":
            raise FieldError(
                f"{self.name} is encrypted with a random IV: a {lookup_name!r} lookup on it "
                "can never match; look secrets up by their digest"
            )
        return super().get_lookup(lookup_name)
