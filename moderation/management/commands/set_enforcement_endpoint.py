"""set_enforcement_endpoint SLUG URL [--allow-private]: prints {"secret": "whsec_..."}.

v2 (CONTRACT §2): a URL whose host is or resolves to a loopback, private, link-local or
otherwise non-public address is refused unless --allow-private; so is a name that does
not resolve.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import MaxLengthValidator, URLValidator

from moderation.models import Organization
from moderation.services.addresses import AddressRefused
from moderation.services.organizations import enforcement_endpoint_set


class Command(BaseCommand):
    help = "Set an organization's enforcement webhook URL and print the secret it is signed with."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("url")
        parser.add_argument(
            "--allow-private",
            action="store_true",
            help="accept a host on a loopback, private or otherwise non-public address"
            " (an endpoint inside your own network, on purpose)",
        )

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
        try:
            secret = enforcement_endpoint_set(
                organization=organization,
                url=options["url"],
                allow_private=options["allow_private"],
                via="command line",
            )
        except AddressRefused as exc:
            raise CommandError(
                f"{exc}; nothing changed. Pass --allow-private to use an endpoint inside"
                " your own network on purpose."
            ) from exc
        self.stdout.write(json.dumps({"secret": secret}))
