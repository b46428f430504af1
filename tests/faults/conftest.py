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


@pytest.fixture
def stack(private_redis: Redis, tmp_path: Path, transactional_db: None) -> Iterator[Stack]:
    stack = Stack(private_redis, tmp_path)
    stack.start_web()
    yield stack
    stack.stop_all()
