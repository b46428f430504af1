"""Display filters of the reviewer console: ages and audit details in plain words, signals
per category, text masked then cut."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince

from moderation.models import Decision, PolicyCategory, Severity, Signal, Verdict
from moderation.services.pii import Span, pii_spans
from moderation.services.undo import undo_window

register = template.Library()


@register.filter
def ago(moment: datetime | None) -> str:
    """Under a minute "just now" (not "0 minutes ago"), else "3 hours, 2 minutes ago"."""
    if moment is None:
        return ""
    if timezone.now() - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment)} ago"


@register.filter
def detail_value(value: Any) -> str:
    """A value of an audit event's JSON detail, without Python's list and None spelling."""
    if value is None or value == []:
        return "none"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@dataclass
class SignalGroup:
    """The signals of one category on one item: one chip, with its best score."""

    category: PolicyCategory
    score: float
    signals: list[Signal] = field(default_factory=list)


@register.filter
def by_category(signals: Iterable[Signal]) -> list[SignalGroup]:
    """Signals grouped per category, the best score first; each group lists every classifier."""
    groups: dict[int, SignalGroup] = {}
    for signal in sorted(signals, key=lambda s: -s.score):
        group = groups.setdefault(
            signal.category_id, SignalGroup(category=signal.category, score=signal.score)
        )
        group.signals.append(signal)
    return list(groups.values())


@register.filter
def any_critical(signals: Iterable[Signal]) -> bool:
    return any(s.category.severity == Severity.CRITICAL for s in signals)


@register.simple_tag
def masked(text: str, limit: int = 0, revealed: bool = False) -> SafeString:
    """The text with personal data masked, then cut to `limit` shown characters (0: whole).

    Masked first, cut second: personal data is found in the whole text, so a cut never leaves
    half an address unmasked, and a mask is shown whole or not at all.
    """
    return masked_from(text, [] if revealed else pii_spans(text), limit=limit)


def masked_from(
    text: str,
    spans: list[Span],
    *,
    start: int = 0,
    limit: int = 0,
    plain: Callable[[str], str] = lambda piece: str(escape(piece)),
) -> SafeString:
    """`text` from `start`, each of `spans` (found in the whole text) shown as its mask, cut
    to `limit` shown characters (0: whole); `plain` escapes (and may mark) the text between
    masks. Search results use it for their snippets, the item page through `masked`."""
    out: list[str] = []
    shown = 0
    position = start
    for span in [*(s for s in spans if s.start >= start), None]:
        piece = text[position : span.start if span else len(text)]
        if limit and shown + len(piece) > limit:
            out.append(plain(piece[: max(0, limit - shown - 1)]) + "…")
            break
        out.append(plain(piece))
        shown += len(piece)
        if span is None:
            break
        mask = f"[{span.kind}]"
        if limit and shown + len(mask) > limit:
            out.append("…")
            break
        out.append(f'<span class="pii" title="hidden {span.kind}">{mask}</span>')
        shown += len(mask)
        position = span.end
    return mark_safe("".join(out))  # noqa: S308 - `plain` escapes every piece of the text


@register.filter
def undo_deadline(decision: Decision) -> datetime:
    """When the decision stops being undoable by time (someone else acting ends it sooner)."""
    return decision.decided_at + undo_window()


@register.filter
def verdict_label(value: str) -> str:
    """A verdict's label ("No violation") from its stored value, for rows read without
    their decision (selectors.subject_recent)."""
    return str(Verdict(value).label)
