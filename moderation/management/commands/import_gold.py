"""import_gold SLUG FILE [--set NAME] (CONTRACT §2 v2): golden items from JSON Lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from moderation.models import Organization
from moderation.services.gold import GoldFileInvalid, gold_import


class Command(BaseCommand):
    help = (
        "Load golden items (items with a known answer) for an organization from a JSON Lines "
        'file, one {"prompt", "response"?, "model"?, "signals", "expected": {"verdict", '
        '"categories"}, "note"?} per line. Any bad line refuses the whole file.'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="the organization the items are served to")
        parser.add_argument("file", help="a JSON Lines file")
        parser.add_argument(
            "--set", dest="set_name", help="the gold set (default: the file's name)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(slug=options["slug"]).first()
        if organization is None:
            raise CommandError(f"no organization {options['slug']!r}")
        path = Path(options["file"])
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from exc
        try:
            result = gold_import(
                organization=organization,
                raw=raw,
                set_name=options["set_name"] if options["set_name"] is not None else path.name,
                actor=None,
                via="command line",
            )
        except GoldFileInvalid as invalid:
            raise CommandError(f"refused, nothing imported:\n{invalid}") from invalid
        except ValueError as exc:
            raise CommandError(f"refused, nothing imported: {exc}") from exc
        self.stdout.write(json.dumps({"imported": result.imported}))
