"""Golden items, the admin side (issue 10, CONTRACT §2 v2): loading them from a JSON Lines file
(`import_gold`) and marking a decided item as one from its page.

A file is all or nothing: every line is checked first, every bad line is reported with its
number, and nothing is stored unless all are good; then the whole file is stored in one
transaction with its audit row. Signals are checked as the flags API checks them (the same
pydantic model, and the same slug-or-alias resolution as ingest), and stored as CONTRACT §3
gives them with the resolved category beside the label sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from django.contrib.auth.models import User
from django.db import transaction
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from moderation import selectors
from moderation.api.schema import SignalIn, unsafe_values
from moderation.models import (
    AuditAction,
    Decision,
    FlaggedItem,
    GoldItem,
    GoldSet,
    ItemState,
    Organization,
    PolicyCategory,
    SecondReviewState,
    Verdict,
)
from moderation.services.audit import audit_record

# The bad lines a refusal lists; the count of all of them is given too.
ERRORS_SHOWN = 20
NOTE_MAX = 5000
SET_NAME_MAX = GoldSet._meta.get_field("name").max_length or 100


class GoldFileInvalid(ValueError):
    """The file is refused as a whole: `errors` holds (line number, reason) of each bad line."""

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        self.errors = errors
        shown = [f"line {n}: {reason}" for n, reason in errors[:ERRORS_SHOWN]]
        if len(errors) > ERRORS_SHOWN:
            shown.append(f"… and {len(errors) - ERRORS_SHOWN} more")
        super().__init__("\n".join(shown))


class GoldMarkRefused(ValueError):
    """The item cannot be marked as golden (the message says why)."""


class ExpectedIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    verdict: Literal["violation", "no_violation"]
    categories: Annotated[
        list[Annotated[str, StringConstraints(min_length=1)]], Field(max_length=20)
    ] = []


class GoldLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    prompt: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
    response: Annotated[str, StringConstraints(max_length=100_000)] | None = None
    model: Annotated[str, StringConstraints(max_length=128)] | None = None
    signals: Annotated[list[SignalIn], Field(min_length=1, max_length=20)]
    expected: ExpectedIn
    note: Annotated[str, StringConstraints(max_length=NOTE_MAX)] | None = None


@dataclass(frozen=True)
class GoldLine:
    """One good line, ready to store."""

    prompt: str
    response: str
    model: str
    signals: list[dict[str, Any]]
    verdict: str
    categories: list[str]  # slugs
    note: str


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def gold_line_parse(text: str, *, category_for_label: dict[str, str]) -> GoldLine | str:
    """One line as a GoldLine, or the reasons it is refused (every problem found, joined)."""
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        return "not valid JSON: nested too deeply"
    except json.JSONDecodeError as exc:
        # Not str(exc): its "line 1 column 12" would read as the file's line.
        return f"not valid JSON: {exc.msg} at column {exc.colno}"
    except ValueError as exc:
        return f"not valid JSON: {exc}"
    if not isinstance(data, dict):
        return "must be a JSON object"
    unsafe = unsafe_values(data)
    if unsafe:
        return "; ".join(f"{e.path or 'a key'}: {e.message}" for e in unsafe)
    problems: list[str] = []
    parsed: GoldLineIn | None = None
    try:
        parsed = GoldLineIn.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False):
            problems.append(f"{_where(err['loc']) or 'line'}: {err['msg']}")
    signals = data.get("signals")
    for i, signal in enumerate(signals if isinstance(signals, list) else []):
        label = signal.get("category") if isinstance(signal, dict) else None
        if isinstance(label, str) and label and label not in category_for_label:
            problems.append(f"signals[{i}].category: unknown policy category or alias {label!r}")
    expected = data.get("expected")
    if isinstance(expected, dict):
        named = expected.get("categories", [])
        for i, label in enumerate(named if isinstance(named, list) else []):
            if isinstance(label, str) and label and label not in category_for_label:
                problems.append(
                    f"expected.categories[{i}]: unknown policy category or alias {label!r}"
                )
    if parsed is not None and not problems:
        verdict = parsed.expected.verdict
        if verdict == Verdict.VIOLATION and not parsed.expected.categories:
            problems.append("expected.categories: a violation names at least one category")
        if verdict == Verdict.NO_VIOLATION and parsed.expected.categories:
            problems.append("expected.categories: a no_violation names no category")
    if problems or parsed is None:
        return "; ".join(problems)
    slugs = list(dict.fromkeys(category_for_label[c] for c in parsed.expected.categories))
    return GoldLine(
        prompt=parsed.prompt,
        response=parsed.response or "",
        model=parsed.model or "",
        signals=[
            {
                "classifier": s.classifier,
                "category": category_for_label[s.category],
                "label": s.category,
                "score": s.score,
            }
            for s in parsed.signals
        ],
        verdict=parsed.expected.verdict,
        categories=slugs,
        note=parsed.note or "",
    )


def gold_file_parse(raw: bytes, *, category_for_label: dict[str, str]) -> list[GoldLine]:
    """Every line of a JSON Lines file; GoldFileInvalid naming each bad line.

    Lines end at "\\n" only (a JSON string may hold U+2028, which `splitlines` would split
    on); a "\\r" before it is dropped. The file may end with a newline; a blank line anywhere
    else is refused as a likely cut or merged file, and so is a file with no line at all.
    """
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if not lines:
        raise GoldFileInvalid([(1, "the file is empty: no golden items to import")])
    parsed: list[GoldLine] = []
    errors: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        line = line.removesuffix(b"\r")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            errors.append((number, f"not valid UTF-8 (byte {exc.start + 1} of the line)"))
            continue
        if not text.strip():
            errors.append((number, "blank line (each line is one golden item)"))
            continue
        result = gold_line_parse(text, category_for_label=category_for_label)
        if isinstance(result, str):
            errors.append((number, result))
        else:
            parsed.append(result)
    if errors:
        raise GoldFileInvalid(errors)
    return parsed


def set_name_check(name: str) -> str:
    """A gold set's name, stripped; ValueError when blank or too long."""
    name = name.strip()
    if not name:
        raise ValueError("A gold set needs a name.")
    if len(name) > SET_NAME_MAX:
        raise ValueError(f"A gold set's name is at most {SET_NAME_MAX} characters.")
    if "\x00" in name:
        raise ValueError("A gold set's name must not contain NUL characters.")
    return name


@dataclass(frozen=True)
class GoldImport:
    gold_set: GoldSet
    imported: int


@transaction.atomic
def gold_import(
    *, organization: Organization, raw: bytes, set_name: str, actor: User | None, via: str
) -> GoldImport:
    """Load a JSON Lines file of golden items into the named set (made if missing; an existing
    set gets the items added). GoldFileInvalid, and nothing stored, if any line is bad."""
    name = set_name_check(set_name)
    lines = gold_file_parse(raw, category_for_label=selectors.category_labels())
    gold_set, _ = GoldSet.objects.get_or_create(name=name, defaults={"created_by": actor})
    by_slug = {c.slug: c for c in PolicyCategory.objects.all()}
    for line in lines:
        gold = GoldItem.objects.create(
            gold_set=gold_set,
            organization=organization,
            prompt=line.prompt,
            response=line.response,
            model=line.model,
            signals=line.signals,
            expected_verdict=line.verdict,
            note=line.note,
            created_by=actor,
        )
        gold.expected_categories.set([by_slug[slug] for slug in line.categories])
    audit_record(
        actor=actor,
        action=AuditAction.GOLD_IMPORT,
        target=f"gold set {gold_set.name}",
        detail={
            "gold_set": gold_set.name,
            "organization": organization.slug,
            "count": len(lines),
            "via": via,
        },
    )
    return GoldImport(gold_set=gold_set, imported=len(lines))


def standing_final_decision(item: FlaggedItem) -> Decision | None:
    return Decision.objects.final().filter(item=item).prefetch_related("categories").first()


def gold_mark_problem(item: FlaggedItem) -> str | None:
    """Why the item cannot be marked as golden, or None."""
    if item.gold_id is not None:
        return "This item is a golden item served for review; it cannot be marked again."
    if item.content_erased_at is not None or item.state == ItemState.ERASED:
        return "This item's text was erased; it cannot be marked as golden."
    if item.messages:
        # Golden items are a prompt and a response (import_gold, CONTRACT §2): a copy would
        # drop the turns the decision was made on.
        return (
            "A conversation cannot be marked as golden: golden items are a prompt and a "
            "response only."
        )
    if item.state != ItemState.DECIDED or standing_final_decision(item) is None:
        return "Only a decided item, with a standing final decision, can be marked as golden."
    if item.second_reviews.filter(
        state__in=[SecondReviewState.PENDING, SecondReviewState.DISAGREED]
    ).exists():
        return "This item's decision waits for its second review; mark it once that is settled."
    return None


@transaction.atomic
def gold_mark(
    *,
    item: FlaggedItem,
    gold_set: GoldSet | None = None,
    new_set_name: str = "",
    note: str = "",
    actor: User,
) -> GoldItem:
    """A golden item copied from a decided item: its text, model and signals, with its standing
    final decision as the expected answer. The item itself is not changed.

    The set is `gold_set`, or the one named `new_set_name` (made if missing).
    GoldMarkRefused, nothing stored, when the item cannot be marked."""
    locked = FlaggedItem.objects.select_for_update().get(pk=item.pk)
    if problem := gold_mark_problem(locked):
        raise GoldMarkRefused(problem)
    if len(note) > NOTE_MAX or "\x00" in note:
        raise GoldMarkRefused(f"The note is at most {NOTE_MAX} characters, without NUL characters.")
    if new_set_name.strip():
        try:
            name = set_name_check(new_set_name)
        except ValueError as exc:
            raise GoldMarkRefused(str(exc)) from None
        gold_set, _ = GoldSet.objects.get_or_create(name=name, defaults={"created_by": actor})
    if gold_set is None:
        raise GoldMarkRefused("Choose a gold set or type a new set's name.")
    decision = standing_final_decision(locked)
    assert decision is not None  # gold_mark_problem said so, under the lock
    gold = GoldItem.objects.create(
        gold_set=gold_set,
        organization_id=locked.organization_id,
        prompt=locked.prompt,
        response=locked.response,
        model=locked.model,
        signals=[
            {
                "classifier": s.classifier,
                "category": s.category.slug,
                "label": s.label,
                "score": s.score,
            }
            for s in locked.signals.select_related("category")
        ],
        expected_verdict=decision.verdict,
        note=note.strip(),
        source_item=locked,
        created_by=actor,
    )
    categories = list(decision.categories.all())
    gold.expected_categories.set(categories)
    audit_record(
        actor=actor,
        action=AuditAction.GOLD_MARK,
        item=locked,
        target=f"gold set {gold_set.name}",
        detail={
            "gold_set": gold_set.name,
            "gold_item": gold.pk,
            "decision": decision.pk,
            "expected_verdict": decision.verdict,
            "expected_categories": sorted(c.slug for c in categories),
        },
    )
    return gold
