"""grant_exception SLUG CATEGORY --until YYYY-MM-DD --reference TEXT [--scope T] [--from D]."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from moderation.models import Organization, PolicyCategory
from moderation.services.policy import ExceptionRefused, exception_grant


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"{option} must be a date as YYYY-MM-DD, not {text!r}") from exc


class Command(BaseCommand):
    help = (
        "Grant an organization a contractual exception for a policy category, until the end "
        "of the given day (UTC). Refused for a hard-limit category."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("category", help="a policy category slug or alias")
        parser.add_argument("--until", required=True, metavar="YYYY-MM-DD")
        parser.add_argument("--reference", required=True, help="the contract's reference")
        parser.add_argument("--scope", default="", help="what is allowed (default: the category)")
        parser.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help="default: now")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(slug=options["slug"]).first()
        if organization is None:
            raise CommandError(f"no organization {options['slug']!r}")
        label = options["category"]
        category = (
            PolicyCategory.objects.filter(slug=label).first()
            or PolicyCategory.objects.filter(aliases__alias=label).first()
        )
        if category is None:
            raise CommandError(f"no policy category or alias {label!r}")
        until = datetime.combine(_day(options["until"], "--until"), time.max, tzinfo=UTC)
        start = (
            datetime.combine(_day(options["start"], "--from"), time.min, tzinfo=UTC)
            if options["start"]
            else None
        )
        try:
            exception = exception_grant(
                organization=organization,
                category=category,
                scope=options["scope"] or f"{category.name}, as the contract allows",
                reference=options["reference"],
                valid_from=start,
                valid_until=until,
                via="command line",
            )
        except ExceptionRefused as refused:
            raise CommandError(f"refused: {refused}") from refused
        self.stdout.write(
            json.dumps(
                {
                    "exception_id": exception.pk,
                    "organization": organization.slug,
                    "category": category.slug,
                    "valid_from": exception.valid_from.isoformat(),
                    "valid_until": exception.valid_until.isoformat(),
                    "reference": exception.reference,
                }
            )
        )
