"""set_quality [--gold-percent P] [--second-review-percent P] (CONTRACT §2 v2)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from moderation.models import QualitySettings
from moderation.services.quality_settings import (
    QualitySettingsInvalid,
    percents_parse,
    quality_settings_json,
    quality_settings_save,
)


class Command(BaseCommand):
    help = (
        "Set the share of claims served from golden items and the share of final decisions "
        "sent to a blind second review (each 0 to 100, decimals allowed); prints the settings. "
        "With no option, prints them unchanged."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--gold-percent", dest="gold_percent", metavar="P")
        parser.add_argument("--second-review-percent", dest="second_review_percent", metavar="P")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            values = percents_parse(
                {
                    "gold_percent": options["gold_percent"],
                    "second_review_percent": options["second_review_percent"],
                }
            )
        except QualitySettingsInvalid as invalid:
            flags = {
                "gold_percent": "--gold-percent",
                "second_review_percent": "--second-review-percent",
            }
            reasons = "; ".join(f"{flags[k]}: {v}" for k, v in invalid.errors.items())
            raise CommandError(f"refused, nothing changed: {reasons}") from invalid
        settings = (
            quality_settings_save(
                gold_percent=values.get("gold_percent"),
                second_review_percent=values.get("second_review_percent"),
                actor=None,
                via="command line",
            )
            if values
            else QualitySettings.current()
        )
        self.stdout.write(json.dumps(quality_settings_json(settings)))
