"""create_api_key NAME [--organization SLUG]: prints {"key_id", "secret", "ingest_url"}."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse
from django.utils.text import slugify

from moderation.services.organizations import api_key_create


class Command(BaseCommand):
    help = "Create an API key for an upstream source and print it as one JSON object."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument(
            "--organization",
            metavar="SLUG",
            help="bind the key to this organization (created if missing); "
            "an unbound key must name the organization in every item",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options["organization"]
        if slug is not None and (not slug or slugify(slug) != slug):
            raise CommandError(f"--organization must be a slug (a-z, 0-9, -), not {slug!r}")
        api_key, secret = api_key_create(name=options["name"], organization_slug=slug)
        self.stdout.write(
            json.dumps(
                {
                    "key_id": api_key.key_id,
                    "secret": secret,
                    "ingest_url": reverse("api-flags", args=[api_key.key_id]),
                }
            )
        )
