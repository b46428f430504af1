"""Reviewed items as data for better classifiers, and how well each classifier is confirmed."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, F, IntegerField, OuterRef, Prefetch, Q, Value
from django.db.models.functions import Floor, Least

from moderation.models import (
    Decision,
    FlaggedItem,
    ItemState,
    Signal,
    Verdict,
)
from moderation.services.pii import pii_mask

BANDS = 10


def training_rows(*, since: datetime | None = None) -> Iterator[dict[str, object]]:
    """One JSON-ready row per decided item whose text is still held: the text and every turn
    of a conversation (personal data masked), the final verdict and categories, and the
    classifiers' scores. No user hash, no organization, no request id: nothing that leads
    back to a person."""
    # Golden items are tests of reviewers, not data: the same text, served many times over.
    items = FlaggedItem.objects.filter(
        state=ItemState.DECIDED, content_erased_at__isnull=True, gold__isnull=True
    )
    if since is not None:
        items = items.filter(decided_at__gte=since)
    # Only the standing final decision: an undone or overturned verdict teaches nothing.
    finals = Decision.objects.counted().prefetch_related("categories")
    items = items.prefetch_related(
        Prefetch("decisions", queryset=finals, to_attr="finals"),
        Prefetch("signals", queryset=Signal.objects.select_related("category")),
    ).order_by("decided_at", "pk")
    for item in items.iterator(chunk_size=500):
        if not item.finals:
            continue
        final = item.finals[-1]
        counted = final.verdict == Verdict.VIOLATION and final.allowed_by_id is None
        yield {
            "text": pii_mask(item.prompt),
            "response": pii_mask(item.response),
            "messages": _turns_masked(item.messages),
            "flagged_turn": item.flagged_turn if item.messages else None,
            "verdict": final.verdict,
            "violation": counted,
            "allowed_by_exception": final.allowed_by_id is not None,
            "categories": sorted(c.slug for c in final.categories.all()),
            "signals": [
                {
                    "classifier": s.classifier,
                    "category": s.category.slug,
                    "label": s.label,
                    "score": s.score,
                }
                for s in item.signals.all()
            ],
            "decided_at": item.decided_at.isoformat() if item.decided_at else None,
        }


def _turns_masked(turns: list[dict[str, str]] | None) -> list[dict[str, str]] | None:
    """A conversation's turns with personal data masked in every content and name."""
    if not turns:
        return None
    return [
        {key: pii_mask(value) if key in ("content", "name") else value for key, value in t.items()}
        for t in turns
    ]


def training_jsonl(*, since: datetime | None = None) -> Iterator[str]:
    for row in training_rows(since=since):
        yield json.dumps(row, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class BandRow:
    classifier: str
    category: str
    band: int  # 0..9: scores [band/10, (band+1)/10), 1.0 in band 9
    flags: int
    decided: int
    confirmed: int

    @property
    def low(self) -> float:
        return self.band / BANDS

    @property
    def high(self) -> float:
        return (self.band + 1) / BANDS

    @property
    def rejected(self) -> int:
        return self.decided - self.confirmed

    @property
    def confirmation_rate(self) -> float | None:
        return self.confirmed / self.decided if self.decided else None


def classifier_report() -> list[BandRow]:
    """Per classifier, category and score band: flags, decided ones, and how many reviewers
    confirmed as a violation in that very category. One grouped query, over the standing
    final decisions only: an undone or overturned verdict neither confirms nor rejects."""
    confirmed = Decision.objects.counted().filter(
        item=OuterRef("item"),
        verdict=Verdict.VIOLATION,
        categories=OuterRef("category"),
    )
    decided = Decision.objects.counted().filter(item=OuterRef("item"))
    rows = (
        # A golden item's signals were loaded with it, not sent by a classifier.
        Signal.objects.filter(item__gold__isnull=True)
        .annotate(
            band=Least(Floor(F("score") * BANDS), Value(BANDS - 1), output_field=IntegerField()),
            is_decided=Exists(decided),
            is_confirmed=Exists(confirmed),
        )
        .values("classifier", "category__slug", "band")
        .annotate(
            flags=Count("id"),
            decided=Count("id", filter=Q(is_decided=True)),
            confirmed=Count("id", filter=Q(is_confirmed=True)),
        )
        .order_by("classifier", "category__slug", "band")
    )
    return [
        BandRow(
            classifier=row["classifier"],
            category=row["category__slug"],
            band=int(row["band"]),
            flags=row["flags"],
            decided=row["decided"],
            confirmed=row["confirmed"],
        )
        for row in rows
    ]


def classifier_report_csv(rows: list[BandRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "classifier",
            "category",
            "score_from",
            "score_to",
            "flags",
            "decided",
            "confirmed",
            "rejected",
            "confirmation_rate",
        ]
    )
    for r in rows:
        rate = "" if r.confirmation_rate is None else f"{r.confirmation_rate:.4f}"
        writer.writerow(
            [
                r.classifier,
                r.category,
                f"{r.low:.1f}",
                f"{r.high:.1f}",
                r.flags,
                r.decided,
                r.confirmed,
                r.rejected,
                rate,
            ]
        )
    return out.getvalue()
