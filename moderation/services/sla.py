"""Service-level targets per queue and the claim order they give (issue 11, docs/architecture.md
"Claim order and SLAs").

Every waiting item has a due time, fixed when it enters its queue:

    due_at = queued_at + target(queue) × (1 − urgency / 2)

where urgency in [0, 1] is the strongest signal weighted by its category's severity
(`priority / 4000`, services/ingest.py). Claims take the earliest due item first. A strong
signal may wait half its queue's target, a weak one the whole target; an item that has waited
long is due before any item that arrives after its due time, so no stream of newer,
stronger flags can hold it back for ever (tests/services/test_sla.py proves it).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from moderation.models import DEFAULT_TARGET_MINUTES, QueueTarget, ReviewQueue

# The priority of the strongest possible signal (score 1 in a critical category).
MAX_PRIORITY = 4000

# Share of the target after which a waiting item is shown "at risk".
AT_RISK_SHARE = 0.75


def urgency(priority: int) -> float:
    return min(max(priority, 0), MAX_PRIORITY) / MAX_PRIORITY


def due_at(*, queued_at: datetime, target: timedelta, priority: int) -> datetime:
    return queued_at + target * (1 - urgency(priority) / 2)


def targets() -> dict[str, timedelta]:
    """Each queue's target: the admins' setting, or the default for a queue never set."""
    found = {t.queue: timedelta(minutes=t.target_minutes) for t in QueueTarget.objects.all()}
    return {
        queue: found.get(queue, timedelta(minutes=DEFAULT_TARGET_MINUTES[ReviewQueue(queue)]))
        for queue in ReviewQueue.values
    }


def target_for(queue: str) -> timedelta:
    row = QueueTarget.objects.filter(queue=queue).only("target_minutes").first()
    if row is not None:
        return timedelta(minutes=row.target_minutes)
    return timedelta(minutes=DEFAULT_TARGET_MINUTES[ReviewQueue(queue)])


def entering(*, queue: str, priority: int, now: datetime) -> dict[str, object]:
    """The fields of an item that enters `queue` now (ingest, escalation): for release_to or
    a model constructor."""
    return {
        "queue": queue,
        "queued_at": now,
        "due_at": due_at(queued_at=now, target=target_for(queue), priority=priority),
    }
