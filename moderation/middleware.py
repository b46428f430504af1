"""The app's own middlewares: no caching, and request timing for the metrics.

Nothing the app's views answer may be kept by a browser or a shared cache (CONTRACT §8 v2).

Every page, partial, export and API answer holds flagged content, personal data or both (and a
page that holds neither today may tomorrow): one rule for all of them is simpler to trust
than a list. Static files never reach this middleware: WhiteNoise, placed before it, answers
them with its own long caching.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import add_never_cache_headers

from moderation import metrics


class NoStoreMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        # Cache-Control: max-age=0, no-cache, no-store, must-revalidate, private.
        add_never_cache_headers(response)
        return response


# A client may send any token as its method: the rest are one label, not a series each.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestLatencyMiddleware:
    """Times every request the app answers (static files excepted: WhiteNoise answers them
    before this) into modqueue_http_request_duration_seconds, labelled by the URL pattern's
    name, never the path, so ids in URLs make no new series."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        view = (match.view_name or "unnamed") if match is not None else "unmatched"
        method = request.method if request.method in _METHODS else "other"
        metrics.REQUEST_LATENCY.labels(
            view=view, method=method, status=f"{response.status_code // 100}xx"
        ).observe(time.perf_counter() - started)
        return response
