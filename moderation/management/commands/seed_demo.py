"""seed_demo: demo organizations, users and real flagged items, through the real ingest path."""

from __future__ import annotations

import os
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from accounts.roles import Role
from moderation import selectors
from moderation.api.schema import validate_items
from moderation.corpus import corpus_items
from moderation.models import ApiKey, BatchStatus, InboundBatch
from moderation.services import ingest
from moderation.services.organizations import api_key_create, organization_ensure

ORGANIZATIONS = [("acme", "Acme AI"), ("globex", "Globex Assistant")]
USERS = [("reviewer", Role.REVIEWER), ("senior", Role.SENIOR), ("admin", Role.ADMIN)]
BATCH = 100


class Command(BaseCommand):
    help = "Load demo organizations, users and flagged items from the shipped corpus."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--items", type=int, default=300, help="flagged items per run (default 300)"
        )
        parser.add_argument(
            "--password-env",
            metavar="VAR",
            default="MODQUEUE_DEMO_PASSWORD",
            help="environment variable with the demo users' password (default: "
            "MODQUEUE_DEMO_PASSWORD, else 'modqueue-demo')",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from django.core.management import call_command

        password = os.environ.get(options["password_env"]) or "modqueue-demo"
        for name, role in USERS:
            os.environ["_MODQUEUE_SEED_PASSWORD"] = password
            call_command(
                "add_user",
                name,
                role=role.value,
                password_env="_MODQUEUE_SEED_PASSWORD",
                stdout=self.stdout,
            )
        os.environ.pop("_MODQUEUE_SEED_PASSWORD", None)

        for slug, name in ORGANIZATIONS:
            organization_ensure(slug=slug, name=name)
        api_key = ApiKey.objects.filter(name="demo classifier", organization__isnull=True).first()
        if api_key is None:
            api_key, _ = api_key_create(name="demo classifier", organization_slug=None)

        total = options["items"]
        accepted = 0
        for index, (slug, _) in enumerate(ORGANIZATIONS):
            share = total // len(ORGANIZATIONS) + (1 if index < total % len(ORGANIZATIONS) else 0)
            items = corpus_items(organization=slug, count=None, seed=index + 1, prefix="demo")
            # Each organization sees a different slice of the corpus.
            items = items[index * share : index * share + share]
            accepted += self._ingest(api_key, slug, items)

        pending = InboundBatch.objects.filter(status=BatchStatus.PENDING).count()
        self.stdout.write(f"accepted {accepted} flagged items ({pending} batches still queued)")
        self.stdout.write(f"demo logins (password: {password}):")
        for name, role in USERS:
            self.stdout.write(f"  {name:<9} {role.label}")

    def _ingest(self, api_key: ApiKey, slug: str, items: list[dict[str, Any]]) -> int:
        labels = selectors.category_labels()
        accepted = 0
        for start in range(0, len(items), BATCH):
            valid, errors = validate_items(
                {"items": items[start : start + BATCH]},
                key_organization=None,
                organizations={slug},
                category_for_label=labels,
            )
            if errors:
                raise ValueError(f"demo corpus failed validation: {errors[:3]}")
            with transaction.atomic():
                ingest.batch_accept(api_key=api_key, webhook_id=f"seed-{uuid.uuid4()}", items=valid)
            accepted += len(valid)
        return accepted
