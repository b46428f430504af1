"""Who an item is about: end-user ids become keyed hashes before anything is stored."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings


def subject_hash(*, organization_slug: str, user_id: str) -> str:
    """HMAC-SHA256 under the pepper over "{organization}:{user_id}" (CONTRACT §3), lowercase hex.

    Keyed, so that a leaked table cannot be reversed by hashing guessed ids.
    """
    message = f"{organization_slug}:{user_id}".encode()
    key = settings.MODQUEUE_SUBJECT_PEPPER.encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
