"""A Redis database of its own for each pytest-xdist worker (`make test` runs the suite on two).

Loaded with `-p` (pyproject's addopts), so it runs before pytest-django imports the settings,
which read REDIS_URL once. Worker gwN takes database (REDIS_URL's database − N): under
`make test`, gw0 keeps 15 and gw1 takes 14. Each worker's tests flush only their own database,
and the processes they start inherit it. PostgreSQL needs nothing: each run already makes a
test database named after its process (tests/conftest.py).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

worker = os.environ.get("PYTEST_XDIST_WORKER", "")
url = os.environ.get("REDIS_URL", "")
if worker.startswith("gw") and url:
    parts = urlsplit(url)
    base = int(parts.path.lstrip("/") or 0)
    index = int(worker[2:])
    if index > base:
        raise RuntimeError(f"{url} leaves no Redis database for xdist worker {worker}")
    os.environ["REDIS_URL"] = urlunsplit(parts._replace(path=f"/{base - index}"))
