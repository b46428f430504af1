"""What subject_export and subject_erase share: finding the subject from the command line."""

from __future__ import annotations

from django.core.management.base import CommandError, CommandParser

from moderation.models import Organization, Subject
from moderation.services.subject_rights import subject_resolve
from moderation.services.subjects import is_user_id_hash


def add_subject_arguments(parser: CommandParser) -> None:
    parser.add_argument("slug", help="the organization")
    parser.add_argument("user_id", help="the end user's id as the platform knows it")
    parser.add_argument(
        "--hash", action="store_true", help="USER_ID is already the user id hash (64 hex)"
    )


def subject_from(options: dict[str, object]) -> Subject:
    organization = Organization.objects.filter(slug=options["slug"]).first()
    if organization is None:
        raise CommandError(f"no organization {options['slug']!r}")
    given = str(options["user_id"])
    if options["hash"]:
        if not is_user_id_hash(given):
            raise CommandError("with --hash, USER_ID must be 64 lowercase hex characters")
        subject = subject_resolve(organization=organization, user_id_hash=given)
    else:
        subject = subject_resolve(organization=organization, user_id=given)
    if subject is None:
        raise CommandError("nothing is held about this user in this organization")
    return subject
