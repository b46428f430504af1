"""GET /metrics: the Prometheus scrape (moderation/metrics.py; README "Metrics").

Behind `Authorization: Bearer <MODQUEUE_METRICS_TOKEN>`: queue depths and failure counts say
how busy and how healthy the operation is, which is nobody's business but its operators'.
With no token set the endpoint does not exist (404), so a deployment that never asked for
metrics exposes nothing. A wrong or missing token is 401 and counts toward the client
address's failed authentications, like the API's (CONTRACT §3 v2): too many and it is 429
before any token is compared.
"""

from __future__ import annotations

import hmac
import math

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from moderation import metrics
from moderation.api.ratelimit import auth_failure_record, auth_failures_check


def _client_address(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def _bearer(request: HttpRequest) -> bytes:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip().encode() if scheme.lower() == "bearer" else b""


@csrf_exempt
@require_safe
def metrics_scrape(request: HttpRequest) -> HttpResponse:
    expected = settings.MODQUEUE_METRICS_TOKEN
    if not expected:
        raise Http404("metrics are off: MODQUEUE_METRICS_TOKEN is not set")
    address = _client_address(request)
    decision = auth_failures_check(address=address)
    if not decision.allowed:
        wait = max(1, min(60, math.ceil(decision.retry_after)))
        return HttpResponse(
            "too many failed authentications from this address\n",
            status=429,
            content_type="text/plain; charset=utf-8",
            headers={"Retry-After": str(wait)},
        )
    if not hmac.compare_digest(_bearer(request), expected.encode()):
        auth_failure_record(address=address)
        return HttpResponse(
            "a valid Authorization: Bearer token is required\n",
            status=401,
            content_type="text/plain; charset=utf-8",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    return HttpResponse(metrics.scrape(), content_type=metrics.CONTENT_TYPE)
