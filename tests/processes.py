"""Real processes for the tests that need them: a private Redis, gunicorn, RQ workers.

Everything binds to 127.0.0.1 on a free port and is stopped by the fixture that started it,
process group and all, so a failed test leaves nothing running.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    condition: Callable[[], object], *, timeout: float, what: str, every: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def database_url_for_tests() -> str:
    """The URL of the database the tests run on (pytest-django's test_… database)."""
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


class Process:
    """A child process in its own process group, with its output kept in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole group (an RQ worker's work horse is its child)."""
        if self.popen is None:
            return
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Redis:
    """A redis-server of our own, so a test may stop, start and flush it for real."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = Process(
            "redis",
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            dict(os.environ),
            log_dir,
        )

    def _cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *args],
            capture_output=True,
            text=True,
            timeout=10,
        )

    def ping(self) -> bool:
        return self._cli("ping").stdout.strip() == "PONG"

    def start(self) -> None:
        self.process.start()
        wait_for(self.ping, timeout=10, what="redis-server to answer")

    def stop(self) -> None:
        self.process.kill()
        wait_for(lambda: not self.ping(), timeout=10, what="redis-server to stop")

    def flushall(self) -> None:
        assert self._cli("flushall").stdout.strip() == "OK"

    def llen(self, key: str) -> int:
        return int(self._cli("llen", key).stdout.strip() or 0)


class Stack:
    """gunicorn and RQ workers over the test database and a private Redis."""

    def __init__(
        self, redis: Redis, log_dir: Path, *, worker_class: str | None = None, **extra_env: str
    ) -> None:
        self.redis = redis
        # None: RQ["WORKER_CLASS"] (the forking SweepingWorker); else `rqworker --worker-class`.
        self.worker_class = worker_class
        self.log_dir = log_dir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url_for_tests(),
            "REDIS_URL": redis.url,
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            # Lost batches are swept after 2 s instead of a minute, so the tests end quickly.
            "MODQUEUE_SWEEP_STALE_SECONDS": "2",
            "MODQUEUE_SWEEP_INTERVAL_SECONDS": "1",
            "DB_CONN_MAX_AGE": "0",
            **extra_env,
        }
        self.env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        self.web: Process | None = None
        self.workers: list[Process] = []
        self._worker_count = 0

    def start_web(self) -> None:
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=ROOT,
            env=self.env,
            check=True,
        )
        self.web = Process(
            "gunicorn",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "moderation.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                "--graceful-timeout",
                "5",
            ],
            self.env,
            self.log_dir,
        ).start()
        wait_for(self._web_answers, timeout=30, what="gunicorn to answer")

    def _web_answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/accounts/login/", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def start_worker(self, **extra_env: str) -> Process:
        self._worker_count += 1
        chosen = ["--worker-class", self.worker_class] if self.worker_class else []
        worker = Process(
            f"worker-{self._worker_count}",
            [sys.executable, "manage.py", "rqworker", *chosen, "ingest", "enforcement", "default"],
            {**self.env, **extra_env},
            self.log_dir,
        ).start()
        self.workers.append(worker)
        return worker

    def stop_all(self) -> None:
        for process in [*self.workers, self.web]:
            if process is not None and process.alive:
                process.stop()

    def logs(self) -> str:
        parts = [f"--- {p.name}\n{p.output()[-4000:]}" for p in [self.web, *self.workers] if p]
        return "\n".join(parts)
