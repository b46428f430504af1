"""Organizations and the API keys of their upstream sources."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from moderation.models import (
    ApiKey,
    ApiKeySecret,
    AuditAction,
    Organization,
    new_webhook_secret,
    secret_digest,
)
from moderation.services.addresses import url_check_public
from moderation.services.audit import audit_record


def organization_ensure(*, slug: str, name: str | None = None) -> Organization:
    organization, _ = Organization.objects.get_or_create(
        slug=slug, defaults={"name": name or slug.replace("-", " ").title()}
    )
    return organization


@transaction.atomic
def api_key_create(*, name: str, organization_slug: str | None) -> tuple[ApiKey, str]:
    """A new key with one secret; the organization is created if missing (CONTRACT §2)."""
    organization = organization_ensure(slug=organization_slug) if organization_slug else None
    api_key = ApiKey.objects.create(
        key_id=ApiKey.new_key_id(), name=name, organization=organization
    )
    return api_key, _secret_add(api_key)


@transaction.atomic
def api_key_rotate(*, api_key: ApiKey) -> str:
    """Add a new secret; the newest one before it stays valid, older ones are revoked.

    The source switches to the new secret at its own pace, then the old one is retired
    with `api_key_retire_old_secrets`.
    """
    ApiKey.objects.select_for_update().get(pk=api_key.pk)
    keep = list(
        api_key.secrets.filter(revoked_at__isnull=True).values_list("pk", flat=True)[
            : ApiKeySecret.MAX_ACTIVE - 1
        ]
    )
    api_key.secrets.filter(revoked_at__isnull=True).exclude(pk__in=keep).update(
        revoked_at=timezone.now()
    )
    return _secret_add(api_key)


@transaction.atomic
def api_key_retire_old_secrets(*, api_key: ApiKey) -> int:
    """Revoke every secret but the newest; returns how many were revoked."""
    newest = api_key.secrets.filter(revoked_at__isnull=True).first()
    if newest is None:
        return 0
    return (
        api_key.secrets.filter(revoked_at__isnull=True)
        .exclude(pk=newest.pk)
        .update(revoked_at=timezone.now())
    )


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey) -> None:
    now = timezone.now()
    api_key.revoked_at = now
    api_key.save(update_fields=["revoked_at"])
    api_key.secrets.filter(revoked_at__isnull=True).update(revoked_at=now)


def _secret_add(api_key: ApiKey) -> str:
    secret = new_webhook_secret()
    ApiKeySecret.objects.create(api_key=api_key, secret=secret, digest=secret_digest(secret))
    return secret


@transaction.atomic
def enforcement_endpoint_set(
    *,
    organization: Organization,
    url: str,
    allow_private: bool = False,
    actor: User | None = None,
    via: str = "",
) -> str:
    """Point the organization's enforcement webhook at `url` with a fresh signing secret.

    Refused (AddressRefused) when the URL's host is or resolves to a non-public address,
    unless `allow_private` (CONTRACT §2 v2); the allowance is kept on the organization so
    every delivery checks again (DNS may change). An empty `url` drops the endpoint.
    Audited with the old and new host only: a URL's path may carry a token, and the
    secret never goes in the log.
    """
    if url and not allow_private:
        url_check_public(url)
    old_host = _host(organization.enforcement_url)
    organization.enforcement_url = url
    organization.enforcement_secret = new_webhook_secret()
    organization.enforcement_allow_private = allow_private
    organization.save(
        update_fields=["enforcement_url", "enforcement_secret", "enforcement_allow_private"]
    )
    detail: dict[str, object] = {
        "old_host": old_host,
        "new_host": _host(url),
        "allow_private": allow_private,
    }
    if via:
        detail["via"] = via
    audit_record(
        actor=actor,
        action=AuditAction.ENDPOINT_CHANGE,
        target=f"organization {organization.slug}",
        detail=detail,
    )
    return organization.enforcement_secret


def _host(url: str) -> str:
    """host[:port] of a URL, without credentials, path or query."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # out of range: the host is what the log needs
        port = None
    return f"{host}:{port}" if port else host
