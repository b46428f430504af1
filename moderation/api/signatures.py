"""Standard Webhooks signatures (standardwebhooks.com), checked with the reference library."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class SignatureError(Exception):
    """The message is not signed by any of the key's active secrets (401)."""


def signature_verify(*, body: str, headers: Mapping[str, str], secrets: Iterable[str]) -> None:
    """Accept the message if any active secret signed it; during a rotation a key has two."""
    missing = [name for name in HEADERS if not headers.get(name)]
    if missing:
        raise SignatureError(f"missing header(s): {', '.join(missing)}")
    reason = "no secret is active for this key"
    for secret in secrets:
        try:
            Webhook(secret).verify(body, dict(headers), json_parse=False)
            return
        except WebhookVerificationError as exc:
            reason = str(exc)
            if "timestamp" in reason:
                # The same for every secret: the clock check comes before the signature.
                raise SignatureError(
                    f"{reason}: webhook-timestamp must be within 5 minutes"
                ) from exc
        except (ValueError, TypeError) as exc:
            # A malformed signature list ("v1" with no comma, bad base64) is a bad signature.
            reason = f"malformed webhook-signature: {exc}"
    raise SignatureError(reason)
