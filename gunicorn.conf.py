"""gunicorn's settings for modqueue, read from the working directory (`make serve` and the
systemd unit in docs/deploy/ start gunicorn here). Command-line options win over this file.

Prometheus multiprocess mode (moderation/metrics.py, docs/deploy.md): with
PROMETHEUS_MULTIPROC_DIR set, every worker process writes its counters to that directory and
/metrics adds them up. The directory must exist before the workers start; keep it on a tmpfs
(/run) so a reboot empties it.
"""

from __future__ import annotations

import os
from typing import Any


def on_starting(server: Any) -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    """A worker is gone: its live gauges go with it (its counters stay counted)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
