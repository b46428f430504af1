"""export_training [--since YYYY-MM-DD] [--output FILE]: decided items as JSON Lines."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from moderation.models import AuditAction
from moderation.services.audit import audit_record
from moderation.services.training import training_jsonl


class Command(BaseCommand):
    help = "Export decided items (text, verdict, categories, scores) for training classifiers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", metavar="YYYY-MM-DD")
        parser.add_argument("--output", metavar="FILE", help="default: standard output")

    def handle(self, *args: Any, **options: Any) -> None:
        since = None
        if options["since"]:
            try:
                since = datetime.combine(date.fromisoformat(options["since"]), time.min, tzinfo=UTC)
            except ValueError as exc:
                raise CommandError("--since must be a date as YYYY-MM-DD") from exc
        lines = 0
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8") as out:
                for line in training_jsonl(since=since):
                    out.write(line)
                    lines += 1
        else:
            for line in training_jsonl(since=since):
                self.stdout.write(line, ending="")
                lines += 1
        audit_record(
            actor=None,
            action=AuditAction.TRAINING_EXPORT,
            target="training export",
            detail={"via": "command line", "rows": lines},
        )
        self.stderr.write(f"exported {lines} decided item(s)")
