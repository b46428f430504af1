"""Nothing the app's views answer may be kept by a browser or a shared cache (CONTRACT §8 v2).

Every page, partial, export and API answer holds flagged content, personal data or both (and a
page that holds neither today may tomorrow): one rule for all of them is simpler to trust
than a list. Static files never reach this middleware: WhiteNoise, placed before it, answers
them with its own long caching.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import add_never_cache_headers


class NoStoreMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        # Cache-Control: max-age=0, no-cache, no-store, must-revalidate, private.
        add_never_cache_headers(response)
        return response
