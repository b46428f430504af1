"""revoke_api_key KEY_ID: the key and all its secrets stop working at once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from moderation.models import ApiKey
from moderation.services.organizations import api_key_revoke


class Command(BaseCommand):
    help = "Revoke an API key: it can no longer sign flags or read status."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("key_id")

    def handle(self, *args: Any, **options: Any) -> None:
        api_key = ApiKey.objects.filter(key_id=options["key_id"], revoked_at__isnull=True).first()
        if api_key is None:
            raise CommandError(f"no active API key {options['key_id']!r}")
        api_key_revoke(api_key=api_key)
        self.stdout.write(f"revoked {api_key.key_id}")
