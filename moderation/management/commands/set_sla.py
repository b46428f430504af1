"""set_sla [--critical T] [--escalated T] [--standard T] [--audit T]: the queues' SLA targets,
as /settings/sla/ sets them (README, "SLA targets and the claim order")."""

from __future__ import annotations

import json
import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from moderation.models import ReviewQueue
from moderation.services import sla

DURATION = re.compile(r"^\s*(?P<amount>[^a-z\s]*)\s*(?P<unit>m|min|minutes|h|hours)?\s*$", re.I)
UNITS = {"m": "minutes", "min": "minutes", "minutes": "minutes", "h": "hours", "hours": "hours"}


def _amount_and_unit(text: str) -> tuple[str, str]:
    """ "90m", "90 minutes", "1.5h", "4 hours", or a bare number of minutes."""
    match = DURATION.match(text)
    if match is None:
        return text, "minutes"  # target_parse says what is wrong with it
    return match["amount"], UNITS[(match["unit"] or "minutes").lower()]


class Command(BaseCommand):
    help = (
        "Set queues' SLA targets, each in minutes (90, 90m) or hours (4h, 1.5h), from 1 minute "
        "to 30 days; re-times the items waiting in each changed queue. Prints every queue's "
        "target in minutes and the items re-timed. With no option, prints the targets unchanged."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        for queue in ReviewQueue.values:
            parser.add_argument(f"--{queue}", dest=queue, metavar="T")

    def handle(self, *args: Any, **options: Any) -> None:
        raw = {
            queue: _amount_and_unit(options[queue])
            for queue in ReviewQueue.values
            if options.get(queue) is not None
        }
        try:
            minutes = sla.targets_parse(raw)
        except sla.TargetsInvalid as invalid:
            reasons = "; ".join(f"--{k}: {v}" for k, v in invalid.errors.items())
            raise CommandError(f"refused, nothing changed: {reasons}") from invalid
        retimed = sla.targets_save(minutes=minutes, actor=None, via="command line") if raw else {}
        targets = {q: int(t.total_seconds()) // 60 for q, t in sla.targets().items()}
        self.stdout.write(json.dumps({"target_minutes": targets, "retimed": retimed}))
