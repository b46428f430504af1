"""A platform's enforcement endpoint for the tests: a local HTTP server in a thread.

It checks every request with the reference `standardwebhooks` library, the way a platform
would, and keeps what it got. It can be told to fail its first requests (with a status, or
by not listening yet), or to hold one request open so a worker can be killed mid-delivery.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.processes import free_port


@dataclass(frozen=True)
class Received:
    webhook_id: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    verified: bool
    answered: int

    @property
    def accepted(self) -> bool:
        return 200 <= self.answered < 300


@dataclass
class Receiver:
    """Answers `fail_status` to its first `fail_first` requests (then 204), after `fail_delay`
    seconds; with `hold_first`, keeps the first request open until `release` is set."""

    secret: str = ""
    fail_first: int = 0
    fail_status: int = 500
    fail_delay: float = 0.0
    hold_first: bool = False
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    arrivals: int = 0
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/enforcement"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    Webhook(receiver.secret).verify(raw, headers)
                    verified = True
                except WebhookVerificationError:
                    verified = False
                with receiver._lock:
                    receiver.arrivals += 1
                    number = receiver.arrivals
                if receiver.hold_first and number == 1:
                    receiver.holding.set()
                    receiver.release.wait(timeout=120)
                    status = 503
                elif number <= receiver.fail_first:
                    time.sleep(receiver.fail_delay)
                    status = receiver.fail_status
                else:
                    status = 204 if verified else 400
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                with receiver._lock:
                    receiver.received.append(
                        Received(headers.get("webhook-id", ""), headers, body, verified, status)
                    )
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender is gone (killed mid-request)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.accepted]

    def all(self) -> list[Received]:
        with self._lock:
            return list(self.received)


@contextmanager
def receiving(receiver: Receiver) -> Iterator[Receiver]:
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
