"""The enforcement webhook (CONTRACT §5): signed, retried with backoff, every attempt kept.

A delivery is claimed for one attempt by pushing its `next_attempt_at` past the request
timeout, in a short transaction; the HTTP call runs outside any transaction; the result is
written in another. So two workers never send the same attempt, a worker killed mid-call
leaves a delivery that the periodic task picks up again, and `webhook-id` never changes.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from moderation import metrics, queues
from moderation.models import (
    AuditAction,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    EnforcementAction,
)
from moderation.services.addresses import AddressRefused, connect_public, url_check_public
from moderation.services.audit import audit_record

TIMEOUT_SECONDS = 10
# Seconds before retry n (after attempt n failed): the first within 30 s, nine attempts in
# all over a little more than two hours (CONTRACT §5 asks for at least 8 over an hour).
# MODQUEUE_RETRY_DELAY_SCALE (1 unless set) multiplies them, for the process tests.
RETRY_DELAYS = (10, 60, 120, 300, 600, 1200, 1800, 3600)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# An attempt in flight holds the delivery this long, past the request timeout.
IN_FLIGHT = timedelta(seconds=TIMEOUT_SECONDS + 20)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def delivery_payload(action: EnforcementAction) -> dict[str, object]:
    subject = action.subject
    return {
        "type": "enforcement.action",
        "timestamp": _iso(action.effective_at or action.created_at),
        "data": {
            "action_id": str(action.pk),
            "action": action.kind,
            "organization": subject.organization.slug,
            "user_id_hash": subject.user_id_hash,
            "reason": action.reason,
            "categories": action.categories,
            "violations": action.violations,
            "reviewed": action.reviewed,
            "violation_rate": round(action.violation_rate, 4),
            "decided_by": action.decided_by,
            "effective_at": _iso(action.effective_at or action.created_at),
        },
    }


def delivery_create(*, action: EnforcementAction) -> Delivery | None:
    """Queue the action's webhook, if the organization has an endpoint."""
    organization = action.subject.organization
    if not organization.enforcement_url:
        return None
    delivery = Delivery.objects.create(
        action=action,
        organization=organization,
        webhook_id=f"msg_{action.pk.hex}",
        url=organization.enforcement_url,
        payload=delivery_payload(action),
        next_attempt_at=timezone.now(),
    )
    queues.enqueue_delivery(delivery.pk)
    return delivery


# What an attempt row says until its result is written: a worker killed mid-request leaves it.
INTERRUPTED = "no result recorded: the attempt was interrupted (worker stopped)"


def _claim(delivery_id: int, *, manual: bool) -> tuple[Delivery, DeliveryAttempt] | None:
    now = timezone.now()
    with transaction.atomic():
        rows = Delivery.objects.select_for_update(skip_locked=True).select_related("organization")
        if manual:
            delivery = rows.filter(pk=delivery_id).first()
        else:
            delivery = rows.filter(
                pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
            ).first()
        if delivery is None:
            return None
        delivery.attempts += 1
        delivery.next_attempt_at = now + IN_FLIGHT
        if manual:
            delivery.status = DeliveryStatus.PENDING
        # A pending delivery follows the organization's current endpoint (CONTRACT §5 v2),
        # as it follows its current secret: a platform that moved its endpoint gets what
        # was waiting at the new one. The record keeps where each attempt went.
        current = delivery.organization.enforcement_url
        if current:
            delivery.url = current
        delivery.save(update_fields=["attempts", "next_attempt_at", "status", "url"])
        # Recorded before the request, so even an attempt cut short shows on /enforcement/.
        attempt = DeliveryAttempt.objects.create(
            delivery=delivery, number=delivery.attempts, at=now, error=INTERRUPTED, manual=manual
        )
        return delivery, attempt


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a 2xx: urllib would follow it as a GET without the body
    and might record a login page's 200 as a delivery."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


class _PublicOnly(urllib.request.AbstractHTTPHandler):
    """Connects only to the addresses just checked to be public (connect_public), so a name
    that changes its answer between the check and the connection still gets nowhere."""

    def do_open(self, http_class: Any, req: urllib.request.Request, **kwargs: Any) -> Any:
        def connection(host: str, **options: Any) -> http.client.HTTPConnection:
            made = http_class(host, **options)
            made._create_connection = connect_public
            return made

        return super().do_open(connection, req, **kwargs)


class _PublicOnlyHTTPHandler(_PublicOnly, urllib.request.HTTPHandler):
    pass


class _PublicOnlyHTTPSHandler(_PublicOnly, urllib.request.HTTPSHandler):
    pass


# Without proxies: a proxy would do the connecting, past the check.
_public_opener = urllib.request.build_opener(
    urllib.request.ProxyHandler({}), _NoRedirects, _PublicOnlyHTTPHandler, _PublicOnlyHTTPSHandler
)


NO_ENDPOINT = "not sent: the organization has no enforcement endpoint now"


def _post(delivery: Delivery) -> tuple[int | None, str, int]:
    """POST the signed payload once: (status code or None, error, latency in ms)."""
    if not delivery.organization.enforcement_url:
        # Never to an endpoint the organization dropped: retried on the schedule, so it
        # goes out once a new endpoint is set (or an admin redelivers).
        return None, NO_ENDPOINT, 0
    if not delivery.organization.enforcement_allow_private:
        # Checked again at every attempt, not only when the endpoint was set: the name may
        # resolve elsewhere now (DNS changed, or rebinding). Refused without connecting, and
        # retried on the schedule like any failure (CONTRACT §2 v2, issue 9).
        try:
            url_check_public(delivery.url)
        except AddressRefused as exc:
            return None, str(exc)[:500], 0
    body = json.dumps(delivery.payload, separators=(",", ":"))
    now = timezone.now()
    signature = Webhook(delivery.organization.enforcement_secret).sign(
        delivery.webhook_id, now, body
    )
    request = urllib.request.Request(
        delivery.url,
        data=body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "modqueue-enforcement/1",
            "webhook-id": delivery.webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        },
    )
    opener = _opener if delivery.organization.enforcement_allow_private else _public_opener
    started = time.monotonic()
    try:
        with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            response.read(4096)
            code, error = response.status, ""
    except AddressRefused as exc:
        code, error = None, str(exc)[:500]
    except urllib.error.HTTPError as exc:
        code, error = exc.code, f"HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        code, error = None, f"{type(exc).__name__}: {reason}"[:500]
    return code, error, int((time.monotonic() - started) * 1000)


def delivery_attempt(*, delivery_id: int, manual: bool = False) -> DeliveryAttempt | None:
    """Make one attempt if the delivery is due (or `manual`, an admin's Redeliver)."""
    claimed = _claim(delivery_id, manual=manual)
    if claimed is None:
        return None
    delivery, attempt = claimed
    number = attempt.number
    code, error, latency = _post(delivery)
    now = timezone.now()
    with transaction.atomic():
        # `at` becomes the moment of the answer, as for the rest of the schedule.
        attempt.at, attempt.status_code, attempt.latency_ms, attempt.error = (
            now,
            code,
            latency,
            error,
        )
        attempt.save(update_fields=["at", "status_code", "latency_ms", "error"])
        if attempt.ok:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = now
            delivery.next_attempt_at = None
        elif number >= MAX_ATTEMPTS and not manual:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
        else:
            index = min(number - 1, len(RETRY_DELAYS) - 1)
            delivery.status = DeliveryStatus.PENDING
            delay = RETRY_DELAYS[index] * settings.MODQUEUE_RETRY_DELAY_SCALE
            delivery.next_attempt_at = now + timedelta(seconds=delay)
        delivery.save(update_fields=["status", "delivered_at", "next_attempt_at"])
    metrics.DELIVERY_ATTEMPTS.labels(outcome="delivered" if attempt.ok else "failed").inc()
    if delivery.status == DeliveryStatus.FAILED:
        metrics.DELIVERIES_FAILED.inc()
    return attempt


def deliveries_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Enqueue the deliveries whose next attempt is due (periodic); returns how many."""
    now = now or timezone.now()
    due = list(
        Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for delivery_id in due:
        queues.enqueue_delivery(delivery_id)
    return len(due)


def delivery_redeliver(*, delivery: Delivery, user: User) -> DeliveryAttempt | None:
    """An admin's Redeliver: audited, then one attempt now, whatever the delivery's state."""
    audit_record(
        actor=user,
        action=AuditAction.DELIVERY_REDELIVER,
        subject=delivery.action.subject,
        detail={"delivery": delivery.webhook_id},
    )
    return delivery_attempt(delivery_id=delivery.pk, manual=True)
