"""reencrypt_secrets: every stored secret under the current key; prints {"reencrypted": N}.

Run during a rotation of MODQUEUE_SECRETS_KEY (or SECRET_KEY), after deploying the new key
with the old one in MODQUEUE_SECRETS_KEY_FALLBACKS and before dropping it from there.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from moderation.models.fields import SecretsKeyMismatch
from moderation.services.secrets import secrets_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored API key and enforcement secret under the current "
        "MODQUEUE_SECRETS_KEY (or SECRET_KEY); the old key must still be in "
        "MODQUEUE_SECRETS_KEY_FALLBACKS."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = secrets_reencrypt()
        except SecretsKeyMismatch as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps({"reencrypted": count}))
