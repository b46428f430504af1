"""Serving golden items to reviewers (issue 10, CONTRACT §8 v2), and scoring their answers.

A share of claims (`QualitySettings.gold_percent`) serves a golden item instead of the real
item that would have been served; the real item stays untouched in its queue. Only a claim
that found a real item may serve gold, so gold never keeps a reviewer busy on its own: with
nothing real waiting the answer is "Queue empty". The golden item is one the reviewer was
never served (the audit log's claims say which), routed to a queue as ingest routes an item
(`item_queue`), in a queue the reviewer asked for or may review; among those one is drawn at
random. Each serving is its own `FlaggedItem` under the organization's reserved gold subject,
claimed by the reviewer under a normal lease, so the page, keys, lease, skip and undo are the
real ones. Given up undecided (skip, lease run out, release) it is retired, never queued.

Its decisions are recorded like any (categories, seconds spent, content seen) but never reach
a subject's figures, thresholds, actions or deliveries, the classifier report, the training
export, a subject page or export, or the look-up API: each of those filters gold out.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet

from moderation.models import (
    GOLD_SUBJECT_HASH,
    AuditAction,
    AuditEvent,
    Decision,
    FlaggedItem,
    GoldItem,
    ItemState,
    PolicyCategory,
    QualitySettings,
    ReviewQueue,
    Signal,
    Subject,
    Verdict,
)
from moderation.services import config_cache
from moderation.services.audit import audit_record
from moderation.services.ingest import item_priority, item_queue

# The draw and the choice among eligible golden items. Tests seed it (`rng.seed(n)`), or set
# the share to 0 or 100 where chance must play no part.
rng = random.Random()


def gold_percent() -> Decimal:
    """The share of claims served from gold, without writing the settings row on a read."""
    stored = config_cache.cached(
        "gold_percent",
        lambda: QualitySettings.objects.filter(pk=1).values_list("gold_percent", flat=True).first(),
    )
    if stored is not None:
        return stored
    default = QualitySettings._meta.get_field("gold_percent").default
    return Decimal(str(default))


def gold_drawn(*, percent: Decimal) -> bool:
    """Whether this claim serves gold: true with probability percent / 100."""
    if percent <= 0:
        return False
    return rng.random() * 100 < float(percent)


@dataclass(frozen=True)
class Route:
    queue: ReviewQueue
    # (score, severity) per signal, for `item_priority`.
    scored: tuple[tuple[float, str], ...]


def gold_route(gold: GoldItem, categories: dict[str, PolicyCategory]) -> Route | None:
    """The queue ingest would put the golden item in, from its signals; None when a signal
    names a category that no longer exists (it cannot be served as it was loaded)."""
    scored: list[tuple[float, str]] = []
    for signal in gold.signals or []:
        category = categories.get(str(signal.get("category", "")))
        if category is None:
            return None
        scored.append((float(signal.get("score", 0)), category.severity))
    return Route(
        queue=item_queue(severities=[severity for _, severity in scored]), scored=tuple(scored)
    )


def served_to(user: User) -> QuerySet[AuditEvent, int]:
    """The ids of the golden items ever served to the user: each serving's claim is in the
    audit log, whatever became of it (decided, skipped, run out)."""
    return AuditEvent.objects.filter(
        action=AuditAction.ITEM_CLAIM, actor=user, item__gold__isnull=False
    ).values_list("item__gold", flat=True)


def gold_pick(*, user: User, queues: Sequence[ReviewQueue]) -> tuple[GoldItem, Route] | None:
    """An active golden item the user was never served whose queue is among `queues`, drawn
    at random; None when there is none."""
    candidates = list(
        GoldItem.objects.filter(active=True)
        .exclude(pk__in=served_to(user))
        .select_related("organization")
        .order_by("pk")
    )
    if not candidates:
        return None
    categories = {c.slug: c for c in PolicyCategory.objects.only("id", "slug", "severity")}
    routed = [(gold, gold_route(gold, categories)) for gold in candidates]
    eligible = [(gold, route) for gold, route in routed if route and route.queue in queues]
    return rng.choice(eligible) if eligible else None


def gold_subject(gold: GoldItem) -> Subject:
    return Subject.objects.get_or_create(
        organization=gold.organization, user_id_hash=GOLD_SUBJECT_HASH
    )[0]


def stand_in(item: FlaggedItem) -> Subject:
    """The user a served golden item shows, since its reserved subject is nobody and its other
    servings would give it away: unsaved, with a hash of 64 hex digits of its own, no figures
    and no other items, as a real user's first flag looks. Its page is `stand_in_item`'s."""
    digest = hashlib.sha256(f"{item.organization_id}:{item.request_id}".encode()).hexdigest()
    return Subject(
        organization=item.organization,
        user_id_hash=digest,
        created_at=item.received_at,
        updated_at=item.received_at,
    )


def stand_in_item(*, organization_id: int, user_id_hash: str, user: User) -> FlaggedItem | None:
    """The golden item served to `user` whose stand-in user has this hash, if any: so the
    user link on a golden item leads to a page like a new user's, as on a real item, and not
    to a "not found" that would give it away. Only its own reviewer finds it."""
    served = (
        FlaggedItem.objects.filter(organization_id=organization_id, gold__isnull=False)
        .filter(Q(claimed_by=user) | Q(decisions__reviewer=user))
        .select_related("organization")
        .distinct()
    )
    return next((i for i in served if stand_in(i).user_id_hash == user_id_hash), None)


def gold_serve(
    *,
    gold: GoldItem,
    route: Route,
    user: User,
    now: datetime,
    lease_until: datetime,
    instead_of: FlaggedItem,
) -> FlaggedItem:
    """One serving of the golden item, claimed by the user, in place of `instead_of` (the real
    item the claim found, left as it is). Its times are that item's, so nothing on the page
    (nor its request id, a bare uuid) sets it apart from the real items around it."""
    categories = {c.slug: c for c in PolicyCategory.objects.only("id", "slug", "severity")}
    received_at = instead_of.received_at
    item = FlaggedItem.objects.create(
        organization=gold.organization,
        subject=gold_subject(gold),
        request_id=str(uuid.uuid4()),
        prompt=gold.prompt,
        response=gold.response,
        model=gold.model,
        flagged_at=received_at,
        received_at=received_at,
        priority=item_priority(signals=route.scored, age=now - received_at) if route.scored else 0,
        queue=route.queue,
        queued_at=instead_of.queued_at,
        due_at=instead_of.due_at,
        state=ItemState.CLAIMED,
        claimed_by=user,
        claimed_at=now,
        lease_expires_at=lease_until,
        gold=gold,
    )
    Signal.objects.bulk_create(
        [
            Signal(
                item=item,
                classifier=str(s.get("classifier", "")),
                category=categories[str(s["category"])],
                label=str(s.get("label") or s["category"]),
                score=float(s.get("score", 0)),
            )
            for s in gold.signals or []
        ]
    )
    audit_record(actor=user, action=AuditAction.ITEM_CLAIM, item=item)
    return item


# --- scoring -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GoldResult:
    verdict_correct: bool
    # Jaccard overlap of the decided and expected categories: |A ∩ B| / |A ∪ B|, 1.0 when
    # both are empty.
    category_overlap: float
    expected_verdict: str
    expected_categories: tuple[PolicyCategory, ...]
    note: str

    @property
    def correct(self) -> bool:
        """Right answer: the verdict, and for a violation exactly the expected categories."""
        if not self.verdict_correct:
            return False
        return self.expected_verdict != Verdict.VIOLATION or self.category_overlap == 1.0


def gold_result(decision: Decision) -> GoldResult | None:
    """How a decision on a served golden item scores against its known answer; None for a
    decision on a real item.

    `verdict_correct`: the decision's verdict is the expected one (an escalation is never
    correct: gold has a known answer, and seniors never see it). `category_overlap`: the
    Jaccard index of the decided and expected categories (1.0 when both are empty, 0.0 for an
    escalation of an expected violation). `correct` (wrong = not correct) is what the
    calibration feedback follows: a wrong verdict, or a violation with other categories."""
    item = decision.item
    if item.gold_id is None:
        return None
    gold = GoldItem.objects.prefetch_related("expected_categories").get(pk=item.gold_id)
    expected = tuple(sorted(gold.expected_categories.all(), key=lambda c: c.pk))
    decided = {c.pk for c in decision.categories.all()}
    wanted = {c.pk for c in expected}
    union = decided | wanted
    overlap = len(decided & wanted) / len(union) if union else 1.0
    return GoldResult(
        verdict_correct=decision.verdict == gold.expected_verdict,
        category_overlap=overlap,
        expected_verdict=gold.expected_verdict,
        expected_categories=expected,
        note=gold.note,
    )


def gold_feedback(decision: Decision) -> GoldResult | None:
    """The result to show the reviewer after their decision: only when it was wrong, and the
    golden item's set has feedback on."""
    result = gold_result(decision)
    gold_id = decision.item.gold_id
    if result is None or result.correct or gold_id is None:
        return None
    feedback_on = GoldItem.objects.filter(pk=gold_id, gold_set__feedback=True).exists()
    return result if feedback_on else None
