"""subject_export SLUG USER_ID [--hash]: everything held about an end user, as one JSON object."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from moderation.management.commands._subject_args import add_subject_arguments, subject_from
from moderation.services.subject_rights import subject_export


class Command(BaseCommand):
    help = "Print everything held about an end user (an access request), as one JSON object."

    def add_arguments(self, parser: CommandParser) -> None:
        add_subject_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        document = subject_export(subject=subject_from(options), actor=None, via="command line")
        self.stdout.write(json.dumps(document, ensure_ascii=False))
