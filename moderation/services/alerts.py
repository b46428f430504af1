"""Alerts to a Slack-compatible incoming webhook (issue 11; README "Alerts").

With MODQUEUE_ALERT_URL set, the workers' periodic run (moderation/jobs.py) posts
`{"text": "..."}` there:

- an SLA breach: a queue holds items waiting past its target. One alert when a breach begins,
  a reminder every REMIND_AFTER while the same breach lasts, and never two for one queue
  within MIN_GAP. A breach is "the same" while any item that was already overdue when the
  last alert went out still waits: a backlog that is being worked through but never cleared
  reminds every few hours rather than alerting at each item decided, and a queue cleared and
  overdue again later alerts afresh.
- a delivery failed: an enforcement webhook given up after its last scheduled attempt (one
  alert per delivery), naming the organization, the action, the attempts and the last answer.

Every alert is recorded (AlertSent) before it is posted, keyed so that two workers running
the periodic task at once record it once (the unique kind + key). An alert the webhook did not
take (no answer, no 2xx) is posted again at later runs, with backoff, at most MAX_ATTEMPTS
times. The text names queues, counts, ages and organizations: never users' content, user id
hashes or database ids.

The URL is the operator's own setting, so it is trusted (no public-address check, unlike an
organization's enforcement endpoint); each post has a TIMEOUT_SECONDS limit, and nothing here
raises into the periodic run.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import CharField, Count, Exists, Min, OuterRef, Q
from django.db.models.functions import Cast
from django.urls import Resolver404, resolve
from django.utils import timezone

from moderation.models import (
    ActionKind,
    AlertKind,
    AlertSent,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    FlaggedItem,
    ItemState,
    ReviewQueue,
)
from moderation.services import sla

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5
# Posts of one alert: the first at once, then after 30 s, 1.5 min, 3.5 min… (doubling), the
# last about four hours after the first.
MAX_ATTEMPTS = 10
RETRY_BASE = timedelta(seconds=30)
# An SLA breach that lasts is reminded of this often; no queue alerts twice within MIN_GAP.
REMIND_AFTER = timedelta(hours=6)
MIN_GAP = timedelta(hours=1)
# Failed deliveries older than this are not alerted (turning alerts on must not post every
# failure in the history); the schedule gives up about two hours after an action.
DELIVERY_LOOKBACK = timedelta(days=2)
# Alerts recorded per run at most, of each kind; the rest wait for the next run.
PER_RUN = 20


def _duration(span: timedelta) -> str:
    minutes = max(0, int(span.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def _link(*paths: str) -> str:
    """The first of `paths` this deployment serves, under MODQUEUE_BASE_URL."""
    for path in paths:
        try:
            resolve(path)
        except Resolver404:
            continue
        return f"{settings.MODQUEUE_BASE_URL}{path}"
    return f"{settings.MODQUEUE_BASE_URL}/"


# --- what to alert ----------------------------------------------------------------------


@dataclass(frozen=True)
class Breach:
    queue: str
    target: timedelta
    overdue: int
    oldest_queued_at: datetime


def breaches(*, now: datetime) -> list[Breach]:
    """Queues with waiting items past their target (the waiting-queue index)."""
    targets = sla.targets()
    late = Q()
    for queue, target in targets.items():
        late |= Q(queue=queue, queued_at__lt=now - target)
    rows = (
        FlaggedItem.objects.filter(late, state__in=[ItemState.PENDING, ItemState.ESCALATED])
        .values("queue")
        .annotate(overdue=Count("id"), oldest=Min("queued_at"))
    )
    return [
        Breach(row["queue"], targets[row["queue"]], row["overdue"], row["oldest"])
        for row in rows
        if row["overdue"]
    ]


def _breach_text(breach: Breach, *, now: datetime, reminder: bool) -> str:
    label = ReviewQueue(breach.queue).label
    items = "1 item is" if breach.overdue == 1 else f"{breach.overdue} items are"
    still = "still " if reminder else ""
    return (
        f"modqueue: SLA breach in the {label} queue: {items} {still}waiting past the "
        f"{_duration(breach.target)} target, the oldest for "
        f"{_duration(now - breach.oldest_queued_at)}. "
        f"{_link('/reports/operations/', '/queue/')}"
    )


def _breach_alert(breach: Breach, *, now: datetime) -> tuple[str, str] | None:
    """The (key, text) of the alert this breach calls for now, or None."""
    last = (
        AlertSent.objects.filter(kind=AlertKind.SLA_BREACH, key__startswith=f"{breach.queue}:")
        .order_by("-sent_at", "-pk")
        .first()
    )
    if last is None:
        return f"{breach.queue}:{breach.oldest_queued_at.isoformat()}", _breach_text(
            breach, now=now, reminder=False
        )
    since = now - last.sent_at
    if since < MIN_GAP:
        return None
    # Still waiting, and already overdue when the last alert went out: the same breach.
    ongoing = FlaggedItem.objects.filter(
        state__in=[ItemState.PENDING, ItemState.ESCALATED],
        queue=breach.queue,
        queued_at__lt=last.sent_at - breach.target,
    ).exists()
    if not ongoing:
        return f"{breach.queue}:{breach.oldest_queued_at.isoformat()}", _breach_text(
            breach, now=now, reminder=False
        )
    if since < REMIND_AFTER:
        return None
    # Keyed by the alert it follows, so two runners at once agree on it.
    return f"{breach.queue}:after:{last.pk}", _breach_text(breach, now=now, reminder=True)


def _last_answer(delivery: Delivery) -> str:
    attempt = (
        DeliveryAttempt.objects.filter(delivery=delivery)
        .order_by("-number")
        .only("status_code")
        .first()
    )
    if attempt is not None and attempt.status_code is not None:
        return f"HTTP {attempt.status_code}"
    return "no HTTP answer"


def _delivery_text(delivery: Delivery) -> str:
    attempts = "1 attempt" if delivery.attempts == 1 else f"{delivery.attempts} attempts"
    return (
        f"modqueue: an enforcement delivery to {delivery.organization.slug} failed: the "
        f"{ActionKind(delivery.action.kind).label.lower()} action was not accepted after "
        f"{attempts}, the last answer {_last_answer(delivery)}. An admin can redeliver it. "
        f"{_link('/enforcement/')}"
    )


def _record(kind: AlertKind, key: str, text: str, now: datetime) -> bool:
    try:
        with transaction.atomic():
            AlertSent.objects.create(kind=kind, key=key, text=text, sent_at=now)
    except IntegrityError:
        return False  # another runner recorded it first
    return True


def alerts_record(*, now: datetime) -> int:
    """Record the alerts the current state calls for; returns how many."""
    recorded = 0
    for breach in breaches(now=now):
        alert = _breach_alert(breach, now=now)
        if alert is not None and _record(AlertKind.SLA_BREACH, *alert, now):
            recorded += 1
    alerted = AlertSent.objects.filter(
        kind=AlertKind.DELIVERY_FAILED, key=Cast(OuterRef("pk"), CharField())
    )
    failed = (
        Delivery.objects.filter(
            status=DeliveryStatus.FAILED, created_at__gte=now - DELIVERY_LOOKBACK
        )
        .exclude(Exists(alerted))
        .select_related("organization", "action")
        .order_by("created_at")[:PER_RUN]
    )
    for delivery in failed:
        if _record(AlertKind.DELIVERY_FAILED, str(delivery.pk), _delivery_text(delivery), now):
            recorded += 1
    return recorded


# --- posting ------------------------------------------------------------------------------


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is not a 2xx: the alert is posted again later, never followed as a GET."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _post(url: str, text: str) -> str:
    """POST {"text": ...} once: "" when the webhook took it (2xx), else what went wrong."""
    request = urllib.request.Request(
        url,
        data=json.dumps({"text": text}).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "modqueue-alerts/1"},
    )
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            response.read(4096)
            return ""
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        return type(exc).__name__


def _due(alert: AlertSent, now: datetime) -> bool:
    if alert.attempts == 0:
        return True
    return now >= alert.sent_at + RETRY_BASE * (2**alert.attempts - 1)


def _claim(alert_id: int, now: datetime) -> AlertSent | None:
    """Count the attempt before posting, in its own transaction, so two runners never post
    one alert at once (the second finds it counted and not yet due)."""
    with transaction.atomic():
        alert = (
            AlertSent.objects.select_for_update(skip_locked=True)
            .filter(pk=alert_id, delivered_at=None, attempts__lt=MAX_ATTEMPTS)
            .first()
        )
        if alert is None or not _due(alert, now):
            return None
        alert.attempts += 1
        alert.save(update_fields=["attempts"])
        return alert


def alerts_post(*, url: str, now: datetime) -> int:
    """Post the recorded alerts not yet taken that are due; returns how many were taken.
    Stops at the first failure: the webhook is likely down, and the rest wait their turn."""
    waiting = list(
        AlertSent.objects.filter(delivered_at=None, attempts__lt=MAX_ATTEMPTS)
        .order_by("sent_at", "pk")
        .values_list("pk", flat=True)[: 2 * PER_RUN]
    )
    taken = 0
    for alert_id in waiting:
        alert = _claim(alert_id, now)
        if alert is None:
            continue
        problem = _post(url, alert.text)
        if problem:
            log.warning(
                "alert %s %s not taken by MODQUEUE_ALERT_URL (attempt %d): %s",
                alert.kind,
                alert.pk,
                alert.attempts,
                problem,
            )
            if alert.attempts >= MAX_ATTEMPTS:
                log.error(
                    "alert %s %s given up after %d attempts", alert.kind, alert.pk, MAX_ATTEMPTS
                )
            break
        AlertSent.objects.filter(pk=alert.pk).update(delivered_at=timezone.now())
        taken += 1
    return taken


def alerts_send(*, now: datetime | None = None) -> int:
    """The periodic task: record what calls for an alert, post what waits. Nothing when
    MODQUEUE_ALERT_URL is unset; never raises (an alert must not break the periodic run)."""
    url = settings.MODQUEUE_ALERT_URL
    if not url:
        return 0
    now = now or timezone.now()
    try:
        alerts_record(now=now)
        return alerts_post(url=url, now=now)
    except Exception:
        log.exception("alerts failed; they are tried again at the next run")
        return 0
