"""Who an item is about: end-user ids become keyed hashes before anything is stored."""

from __future__ import annotations

import hashlib
import hmac
import re

from django.conf import settings

# A user id hash as stored and as callers may send it (CONTRACT §3): the one rule for the
# API, the commands and the pages.
USER_ID_HASH_PATTERN = r"[0-9a-f]{64}"
_USER_ID_HASH = re.compile(USER_ID_HASH_PATTERN)


def is_user_id_hash(value: object) -> bool:
    """64 lowercase hex characters."""
    return isinstance(value, str) and _USER_ID_HASH.fullmatch(value) is not None


def subject_hash(*, organization_slug: str, user_id: str) -> str:
    """HMAC-SHA256 under the pepper over "{organization}:{user_id}" (CONTRACT §3), lowercase hex.

    Keyed, so that a leaked table cannot be reversed by hashing guessed ids.
    """
    message = f"{organization_slug}:{user_id}".encode()
    key = settings.MODQUEUE_SUBJECT_PEPPER.encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
