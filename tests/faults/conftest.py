from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import Redis, Stack


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Redis]:
    redis = Redis(tmp_path)
    redis.start()
    yield redis
    redis.process.kill()


# Every fault test runs against both worker classes: RQ's forking worker (a work horse per
# job, the default of `rqworker`) and the non-forking one `make worker` runs.
WORKER_CLASSES = {
    "forking": "moderation.workers.SweepingWorker",
    "in-process": "moderation.workers.InProcessWorker",
}


@pytest.fixture(params=list(WORKER_CLASSES))
def worker_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def stack(
    private_redis: Redis, tmp_path: Path, transactional_db: None, worker_kind: str
) -> Iterator[Stack]:
    stack = Stack(private_redis, tmp_path, worker_class=WORKER_CLASSES[worker_kind])
    stack.start_web()
    yield stack
    stack.stop_all()
