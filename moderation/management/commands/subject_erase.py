"""subject_erase SLUG USER_ID [--hash]: erase an end user's prompts and responses."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from moderation.management.commands._subject_args import add_subject_arguments, subject_from
from moderation.services.subject_rights import subject_erase


class Command(BaseCommand):
    help = (
        "Erase an end user's prompts, responses, metadata, notes and appeal messages "
        "(a deletion request), keeping the anonymous counts, decisions and actions."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_subject_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        subject = subject_from(options)
        counts = subject_erase(subject=subject, actor=None, via="command line")
        self.stdout.write(json.dumps({"user_id_hash": subject.user_id_hash, "erased": counts}))
