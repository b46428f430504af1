"""rotate_api_key KEY_ID [--retire-old]: add a second secret, or retire all but the newest."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from moderation.models import ApiKey
from moderation.services.organizations import api_key_retire_old_secrets, api_key_rotate


class Command(BaseCommand):
    help = (
        "Rotate an API key's secret: without options, add a new secret (the previous one "
        "stays valid) and print it; with --retire-old, revoke every secret but the newest."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("key_id")
        parser.add_argument("--retire-old", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        api_key = ApiKey.objects.filter(key_id=options["key_id"], revoked_at__isnull=True).first()
        if api_key is None:
            raise CommandError(f"no active API key {options['key_id']!r}")
        if options["retire_old"]:
            revoked = api_key_retire_old_secrets(api_key=api_key)
            self.stdout.write(json.dumps({"key_id": api_key.key_id, "revoked": revoked}))
            return
        secret = api_key_rotate(api_key=api_key)
        self.stdout.write(json.dumps({"key_id": api_key.key_id, "secret": secret}))
