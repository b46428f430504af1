"""Personal data in prompts and responses, found so the reviewer's view can mask it.

Patterns, not a model: emails, phone numbers, payment card numbers (Luhn-checked), IPv4
and IPv6 addresses, IBANs and US social security numbers. A masked span shows its kind
until a reviewer reveals it, with a reason that goes to the audit log.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str


# Compiled once at import, as PATTERNS below: nothing is compiled (or looked up in re's
# cache) while a page renders.
NOT_DIGIT = re.compile(r"\D")
LOCAL_NUMBER = re.compile(r"\d{3}[-. ]\d{4}")


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> bool:
    digits = NOT_DIGIT.sub("", match.group())
    return 13 <= len(digits) <= 19 and _luhn(digits)


def _ipv4(match: re.Match[str]) -> bool:
    return all(0 <= int(part) <= 255 for part in match.group().split("."))


def _ipv6(match: re.Match[str]) -> bool:
    try:
        ipaddress.IPv6Address(match.group())
    except ValueError:
        return False
    # Two groups at least: "::" and "::1" are no one's address, and Python's `[::-1]` is code.
    return sum(1 for group in match.group().split(":") if group) >= 2


def _phone(match: re.Match[str]) -> bool:
    # Nine digits and more, or a local number written 555-0132; not "2024-2025".
    digits = NOT_DIGIT.sub("", match.group())
    return 9 <= len(digits) <= 15 or bool(LOCAL_NUMBER.fullmatch(match.group()))


# Order matters: earlier kinds win where spans overlap (a card number is not also a phone).
PATTERNS: list[tuple[str, re.Pattern[str], Callable[[re.Match[str]], bool] | None]] = [
    ("email", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), None),
    ("card", re.compile(r"\b(?:\d[ -]?){12,18}\d\b"), _card),
    ("iban", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,4})?\b"), None),
    ("ssn", re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), None),
    # Not four numbers out of a longer dotted run (an OID, a five-part version).
    ("ip", re.compile(r"(?<!\d\.)\b(?:\d{1,3}\.){3}\d{1,3}\b(?!\.\d)"), _ipv4),
    ("ip", re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])"), _ipv6),
    (
        "phone",
        # After a country code the area code may be one digit (+33 6 12 34 56 78). Never the
        # tail of a UUID or id (after "-"), nor a date running into a time (2024-05-17 10:30).
        re.compile(
            r"(?<![\w+-])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}"
            r"|(?:\(\d{1,4}\)[ .-]?)?\d{2,4})(?:[ .-]?\d{2,4}){2,4}(?!\w|:\d)"
        ),
        _phone,
    ),
]


def pii_spans(text: str) -> list[Span]:
    """Non-overlapping spans of personal data in the text, in order."""
    return list(_spans(text))


@lru_cache(maxsize=64)
def _spans(text: str) -> tuple[Span, ...]:
    """The item page asks twice for each text (whether to offer a reveal, then the masked
    text): the patterns run once."""
    taken: list[Span] = []
    for kind, pattern, check in PATTERNS:
        for match in pattern.finditer(text):
            if check is not None and not check(match):
                continue
            span = Span(match.start(), match.end(), kind)
            if any(span.start < t.end and t.start < span.end for t in taken):
                continue
            taken.append(span)
    return tuple(sorted(taken, key=lambda s: s.start))


def pii_mask_html(text: str) -> SafeString:
    """The text, escaped, with each span of personal data replaced by a labelled mask."""
    out: list[str] = []
    position = 0
    for span in pii_spans(text):
        out.append(escape(text[position : span.start]))
        out.append(f'<span class="pii" title="hidden {span.kind}">[{span.kind}]</span>')
        position = span.end
    out.append(escape(text[position:]))
    return mark_safe("".join(out))  # noqa: S308 - every piece of the text is escaped above


def pii_mask(text: str) -> str:
    """Plain-text masking, for exports that must not carry personal data."""
    out, position = [], 0
    for span in pii_spans(text):
        out.append(text[position : span.start])
        out.append(f"[{span.kind}]")
        position = span.end
    out.append(text[position:])
    return "".join(out)
