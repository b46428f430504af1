"""Organizations (the platform's customers) and the API keys of their upstream sources."""

from __future__ import annotations

import base64
import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from .fields import EncryptedTextField


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_digest(secret: str) -> str:
    """What Bearer authentication looks a secret up by; the secret itself stays unindexed."""
    return hashlib.sha256(secret.encode()).hexdigest()


class Organization(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    enforcement_url = models.URLField(max_length=2000, blank=True)
    # Encrypted at rest (issue 9, finding 10): a database dump alone signs nothing.
    enforcement_secret = EncryptedTextField(blank=True)
    # An endpoint on a loopback, private or link-local address is refused unless an admin
    # allowed it on purpose (`set_enforcement_endpoint --allow-private`); deliveries check
    # the address again each time, as DNS may change (CONTRACT §2 v2).
    enforcement_allow_private = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class ApiKey(models.Model):
    """The identity of one upstream source (a classifier, a moderation filter).

    A key bound to an organization writes and reads only that organization; an unbound
    key (a shared upstream serving several organizations) must name one per item.
    """

    key_id = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="api_keys"
    )
    rate_per_second = models.PositiveIntegerField(default=settings.MODQUEUE_DEFAULT_RATE_PER_SECOND)
    rate_burst = models.PositiveIntegerField(default=settings.MODQUEUE_DEFAULT_RATE_BURST)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def new_key_id() -> str:
        return "key_" + secrets.token_hex(12)


class ApiKeySecret(models.Model):
    """One signing secret of a key; two may be active at once while a source rotates."""

    MAX_ACTIVE = 2

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="secrets")
    # Encrypted at rest, so never looked up: Bearer authentication finds the row by the
    # digest, a SHA-256 of 256 random bits that gives nothing back to sign with.
    secret = EncryptedTextField()
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"secret {self.pk} of {self.api_key.key_id}"
