"""Who is calling the API: the one place API keys are looked up."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest
from django.utils import timezone

from moderation.models import ApiKey, ApiKeySecret, secret_digest

# last_used_at is for people, not for accounting: write it at most once a minute per key.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_key_active(key_id: str) -> ApiKey | None:
    """The active key with this id, with its organization, or None."""
    return (
        ApiKey.objects.select_related("organization")
        .filter(key_id=key_id, revoked_at__isnull=True)
        .first()
    )


def api_key_secrets(api_key: ApiKey) -> list[str]:
    """The key's active secrets, newest first (at most two during a rotation)."""
    return list(
        api_key.secrets.filter(revoked_at__isnull=True)
        .order_by("-created_at", "-id")
        .values_list("secret", flat=True)[: ApiKeySecret.MAX_ACTIVE]
    )


def api_key_for_bearer(request: HttpRequest) -> ApiKey | None:
    """The active key whose secret is the request's `Authorization: Bearer` token, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    found = (
        ApiKeySecret.objects.select_related("api_key__organization")
        .filter(
            digest=secret_digest(token.strip()),
            revoked_at__isnull=True,
            api_key__revoked_at__isnull=True,
        )
        .first()
    )
    return found.api_key if found else None


def api_key_touch(api_key: ApiKey) -> None:
    now = timezone.now()
    if api_key.last_used_at and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
