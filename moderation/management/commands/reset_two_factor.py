"""reset_two_factor USERNAME [--reason TEXT]: remove a user's authenticator app and recovery
codes (a lost phone), audited; their password alone signs them in until they set it up again.
Exits non-zero for an unknown user."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from moderation.services.two_factor import two_factor_reset


class Command(BaseCommand):
    help = "Reset a user's two-factor authentication (authenticator app and recovery codes)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--reason", default="reset from the command line", help="kept in the audit log"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']!r}")
        two_factor_reset(user=user, actor=None, reason=options["reason"])
        self.stdout.write(f"reset two-factor of {user.get_username()}")
