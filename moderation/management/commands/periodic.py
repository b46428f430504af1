"""periodic [--once]: the workers' housekeeping without RQ, for the Redis-less demo.

With Redis, every `rqworker` runs these tasks itself; `make demo` on SQLite has no
workers, so it runs this command beside the web server instead.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from moderation import jobs


class Command(BaseCommand):
    help = "Run the periodic tasks (lost batches, expired leases, due deliveries, rate windows)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="run them once and exit")
        parser.add_argument(
            "--interval",
            type=int,
            default=settings.MODQUEUE_SWEEP_INTERVAL_SECONDS,
            help="seconds between runs (default MODQUEUE_SWEEP_INTERVAL_SECONDS)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            jobs.periodic()
            if options["once"]:
                return
            time.sleep(max(1, options["interval"]))
            # A connection idle through the sleep may have been dropped by the server.
            close_old_connections()
