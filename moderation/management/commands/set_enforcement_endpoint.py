"""set_enforcement_endpoint SLUG URL: prints {"secret": "whsec_..."}."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import MaxLengthValidator, URLValidator

from moderation.models import Organization
from moderation.services.organizations import enforcement_endpoint_set


class Command(BaseCommand):
    help = "Set an organization's enforcement webhook URL and print the secret it is signed with."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("url")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(slug=options["slug"]).first()
        if organization is None:
            raise CommandError(f"no organization {options['slug']!r}")
        max_length = Organization._meta.get_field("enforcement_url").max_length
        try:
            URLValidator(schemes=["http", "https"])(options["url"])
            # The validator allows 2048 characters; the column holds fewer.
            MaxLengthValidator(max_length)(options["url"])
        except ValidationError as exc:
            raise CommandError(
                f"not an http(s) URL of at most {max_length} characters: {options['url']!r}"
            ) from exc
        secret = enforcement_endpoint_set(organization=organization, url=options["url"])
        self.stdout.write(json.dumps({"secret": secret}))
