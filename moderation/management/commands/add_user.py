"""add_user NAME --role {reviewer,senior,admin} [--password-env VAR] (CONTRACT §2).

v2: the password must pass Django's validators (settings.AUTH_PASSWORD_VALIDATORS);
otherwise the command exits non-zero with their reasons and creates or changes nothing.
"""

from __future__ import annotations

import getpass
import os
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.roles import Role
from moderation.services.roles import role_assign


class Command(BaseCommand):
    help = "Create a user, or change the role of an existing one."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--role", required=True, choices=[r.value for r in Role])
        parser.add_argument(
            "--password-env",
            metavar="VAR",
            help="read the password from this environment variable instead of a prompt",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name: str = options["name"]
        User = get_user_model()
        user = User.objects.filter(username=name).first()
        password = self._password(options["password_env"], required=user is None)
        if password is not None:
            # Judged against the user it is for (similarity to the name), before any write.
            candidate = user if user is not None else User(username=name)
            try:
                validate_password(password, user=candidate)
            except ValidationError as exc:
                reasons = "\n".join(f"  - {message}" for message in exc.messages)
                raise CommandError(f"password refused, nothing changed:\n{reasons}") from exc
        with transaction.atomic():
            if user is None:
                user = User.objects.create_user(username=name, password=password)
                verb = "created"
            else:
                if password:
                    user.set_password(password)
                    user.save(update_fields=["password"])
                verb = "updated"
            role_assign(user=user, role=Role(options["role"]))
        self.stdout.write(f"{verb} {name} as {options['role']}")

    def _password(self, env_var: str | None, *, required: bool) -> str | None:
        if env_var:
            value = os.environ.get(env_var)
            if not value:
                raise CommandError(f"environment variable {env_var} is not set or empty")
            return value
        if not required:
            return None
        first = getpass.getpass("Password: ")
        if not first or first != getpass.getpass("Password (again): "):
            raise CommandError("passwords are empty or do not match")
        return first
