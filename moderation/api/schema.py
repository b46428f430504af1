"""Validation of the flags API body (CONTRACT §3): every error at once, each with its JSON path."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from moderation.services.subjects import USER_ID_HASH_PATTERN

MAX_ITEMS = 500
MAX_METADATA_BYTES = 8 * 1024
# A conversation (CONTRACT §3 v2): 1 to 200 turns, all their text together (contents and
# names) at most this many characters.
MAX_TURNS = 200
MAX_CONVERSATION_CHARS = 100_000
# Deeper JSON than this is refused (400) before anything walks it recursively.
MAX_DEPTH = 32
# A clock a little ahead of ours is tolerated, as for webhook timestamps.
FUTURE_TOLERANCE = timedelta(minutes=5)


class BodyError(Exception):
    """The body cannot be read as a flags message at all (400)."""


class TooManyItems(Exception):
    """More items than one request may carry (413)."""


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class SignalIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    classifier: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    category: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    score: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


class TurnIn(BaseModel):
    """One turn of a conversation. `name` is allowed on every role (a tool's name, or the
    name a chat API gives a participant); the page shows it beside the role."""

    model_config = ConfigDict(extra="forbid", strict=True)

    role: Literal["system", "user", "assistant", "tool"]
    content: Annotated[str, StringConstraints(max_length=MAX_CONVERSATION_CHARS)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    request_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    organization: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    user_id: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    user_id_hash: Annotated[str, StringConstraints(pattern=f"^{USER_ID_HASH_PATTERN}$")] | None = (
        None
    )
    # Optional only beside `messages` (checked in _conversation_errors).
    prompt: Annotated[str, StringConstraints(min_length=1, max_length=100_000)] | None = None
    response: Annotated[str, StringConstraints(max_length=100_000)] | None = None
    model: Annotated[str, StringConstraints(max_length=128)] | None = None
    flagged_at: Any = None  # checked by _parse_rfc3339, which names the rule broken
    signals: Annotated[list[SignalIn], Field(min_length=1, max_length=20)]
    metadata: dict[str, Any] | None = None
    messages: Annotated[list[TurnIn], Field(min_length=1, max_length=MAX_TURNS)] | None = None
    flagged_turn: Annotated[int, Field(ge=0)] | None = None


def parse_body(raw: bytes) -> Any:
    """The body as JSON; BodyError for invalid UTF-8, invalid JSON, a non-object or a body
    nested deeper than MAX_DEPTH. No message quotes the body."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(f"body is not valid UTF-8 (byte {exc.start})") from exc
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise BodyError(_TOO_DEEP) from None
    except ValueError as exc:
        raise BodyError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BodyError('body must be a JSON object: one item, or {"items": [...]}')
    if _depth_over(data, MAX_DEPTH):
        raise BodyError(_TOO_DEEP)
    return data


_TOO_DEEP = f"body is nested too deeply (at most {MAX_DEPTH} levels of arrays and objects)"


def _depth_over(data: Any, limit: int) -> bool:
    """Whether arrays and objects nest deeper than limit (iterative: any depth is safe)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, dict | list))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value if isinstance(v, dict | list))
    return False


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored as text (PostgreSQL refuses NUL; an unpaired surrogate
    is not Unicode), or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain unpaired surrogates (not valid Unicode)"
    return None


def unsafe_values(data: Any) -> list[FieldError]:
    """Every value of a parsed body that no field may hold, with its path: text with NUL
    characters or unpaired surrogates (in values and keys alike) and numbers out of float
    range (1e400 reads as infinity). Call on a parse_body result (depth already bounded)."""
    errors: list[FieldError] = []
    stack: list[tuple[Any, tuple[int | str, ...]]] = [(data, ())]
    while stack:
        value, loc = stack.pop()
        if isinstance(value, str):
            if problem := text_problem(value):
                errors.append(FieldError(_path("", loc), problem))
        elif isinstance(value, float):
            if not math.isfinite(value):
                errors.append(FieldError(_path("", loc), "must be a finite number"))
        elif isinstance(value, dict):
            for key, child in value.items():
                if problem := text_problem(key):
                    errors.append(FieldError(_path("", loc), f"keys {problem}"))
                else:
                    stack.append((child, (*loc, key)))
        elif isinstance(value, list):
            stack.extend((child, (*loc, i)) for i, child in enumerate(value))
    return sorted(errors, key=lambda e: e.path)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def split_items(body: dict[str, Any]) -> tuple[list[Any], str]:
    """The items of a body and the path prefix of each: `items[i]` in a batch, `` alone."""
    if "items" not in body:
        return [body], ""
    items = body["items"]
    if isinstance(items, list) and len(items) > MAX_ITEMS:
        raise TooManyItems(f"at most {MAX_ITEMS} items per request, got {len(items)}")
    return items, "items"


def _path(prefix: str, loc: tuple[int | str, ...]) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _parse_rfc3339(value: Any) -> datetime | str:
    """A timezone-aware datetime, or the reason the value is not an RFC 3339 time."""
    if not isinstance(value, str):
        return "must be an RFC 3339 date-time string"
    if len(value) < 20 or value[10] not in "Tt ":
        return "must be an RFC 3339 date-time such as 2026-11-22T10:00:00Z"
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return "must be an RFC 3339 date-time such as 2026-11-22T10:00:00Z"
    if parsed.tzinfo is None:
        return "must carry a time zone offset (Z or ±hh:mm)"
    if parsed > timezone.now() + FUTURE_TOLERANCE:
        return "lies in the future"
    return parsed


@dataclass(frozen=True)
class ValidItem:
    """An item that passed every rule, as the ingest service takes it."""

    request_id: str
    organization: str
    user_id: str | None
    user_id_hash: str | None
    prompt: str
    response: str
    model: str
    flagged_at: datetime | None
    signals: list[tuple[str, str, str, float]]  # classifier, category slug, label, score
    metadata: dict[str, Any]
    # The conversation as given, each turn {"role", "content"[, "name"]}, or None.
    messages: list[dict[str, str]] | None = None
    flagged_turn: int | None = None


def validate_items(
    body: dict[str, Any],
    *,
    key_organization: str | None,
    organizations: set[str],
    category_for_label: dict[str, str],
) -> tuple[list[ValidItem], list[FieldError]]:
    """Check every item against CONTRACT §3; all errors are collected, none stops the rest.

    `organizations` holds the slugs that exist; `category_for_label` maps each category slug
    and alias to its slug.
    """
    errors: list[FieldError] = []
    raw_items, prefix = split_items(body)
    if prefix:
        extra = sorted(set(body) - {"items"})
        for name in extra:
            errors.append(FieldError(name, "unknown field next to items"))
        if not isinstance(raw_items, list):
            return [], [*errors, FieldError("items", "must be an array of 1 to 500 items")]
        if not raw_items:
            return [], [*errors, FieldError("items", "must hold at least 1 item")]

    valid: list[ValidItem] = []
    for index, raw in enumerate(raw_items):
        item_prefix = f"items[{index}]" if prefix else ""
        item_errors: list[FieldError] = []
        try:
            parsed: ItemIn | None = ItemIn.model_validate(raw)
        except ValidationError as exc:
            parsed = None
            for err in exc.errors(include_url=False, include_input=False):
                item_errors.append(FieldError(_path(item_prefix, err["loc"]), err["msg"]))
        if not isinstance(raw, dict):
            errors.extend(item_errors)
            continue
        item_errors.extend(
            _semantic_errors(
                raw,
                item_prefix=item_prefix,
                key_organization=key_organization,
                organizations=organizations,
                category_for_label=category_for_label,
            )
        )
        flagged_at = None
        if raw.get("flagged_at") is not None:
            flagged = _parse_rfc3339(raw["flagged_at"])
            if isinstance(flagged, str):
                item_errors.append(FieldError(_path(item_prefix, ("flagged_at",)), flagged))
            else:
                flagged_at = flagged
        if item_errors or parsed is None:
            errors.extend(item_errors)
            continue
        turns = (
            [t.model_dump(exclude_none=True) for t in parsed.messages] if parsed.messages else None
        )
        valid.append(
            ValidItem(
                request_id=parsed.request_id,
                organization=parsed.organization or key_organization or "",
                user_id=parsed.user_id,
                user_id_hash=parsed.user_id_hash,
                prompt=parsed.prompt or _last_user_turn(turns or []),
                response=parsed.response or "",
                model=parsed.model or "",
                flagged_at=flagged_at,
                signals=[
                    (s.classifier, category_for_label[s.category], s.category, s.score)
                    for s in parsed.signals
                ],
                metadata=parsed.metadata or {},
                messages=turns,
                flagged_turn=parsed.flagged_turn if turns else None,
            )
        )
    return valid, errors


def _last_user_turn(turns: list[dict[str, str]]) -> str:
    """The prompt of a conversation sent without one: its last user turn."""
    users = [t["content"] for t in turns if t["role"] == "user"]
    return users[-1] if users else ""


def _semantic_errors(
    raw: dict[str, Any],
    *,
    item_prefix: str,
    key_organization: str | None,
    organizations: set[str],
    category_for_label: dict[str, str],
) -> list[FieldError]:
    """The rules a schema cannot state: references, exclusive fields, serialized sizes."""
    errors: list[FieldError] = []

    def at(*loc: int | str) -> str:
        return _path(item_prefix, loc)

    organization = raw.get("organization")
    if isinstance(organization, str) and organization:
        if key_organization and organization != key_organization:
            errors.append(
                FieldError(
                    at("organization"), "this API key may only write to its own organization"
                )
            )
        elif organization not in organizations:
            errors.append(FieldError(at("organization"), f"unknown organization {organization!r}"))
    elif organization is None and not key_organization:
        errors.append(
            FieldError(at("organization"), "required: this API key is not bound to an organization")
        )

    has_id = raw.get("user_id") is not None
    has_hash = raw.get("user_id_hash") is not None
    if has_id and has_hash:
        errors.append(FieldError(at("user_id_hash"), "give user_id or user_id_hash, not both"))
    elif not has_id and not has_hash:
        errors.append(FieldError(at("user_id"), "required: user_id or user_id_hash"))

    signals = raw.get("signals")
    if isinstance(signals, list):
        for i, signal in enumerate(signals):
            if not isinstance(signal, dict):
                continue
            label = signal.get("category")
            if isinstance(label, str) and label and label not in category_for_label:
                errors.append(
                    FieldError(
                        at("signals", i, "category"),
                        f"unknown policy category or alias {label!r}",
                    )
                )

    errors.extend(_conversation_errors(raw, at))

    metadata = raw.get("metadata")
    if isinstance(metadata, dict):
        serialized = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False)
        size = len(serialized.encode("utf-8", "surrogatepass"))
        if size > MAX_METADATA_BYTES:
            errors.append(
                FieldError(
                    at("metadata"), f"at most {MAX_METADATA_BYTES} bytes serialized, got {size}"
                )
            )
    return errors


def _conversation_errors(raw: dict[str, Any], at: Callable[..., str]) -> list[FieldError]:
    """`messages` and `flagged_turn` (CONTRACT §3 v2): a prompt or a conversation; without a
    prompt the conversation's last user turn is the prompt, so it needs one with text; the
    turns' text together within the limit; `flagged_turn` an index of one of the turns."""
    errors: list[FieldError] = []
    prompt, messages = raw.get("prompt"), raw.get("messages")
    turns = messages if isinstance(messages, list) else None
    if prompt is None and messages is None:
        errors.append(FieldError(at("prompt"), "required: prompt or messages (or both)"))
    if turns:
        total = sum(
            len(value)
            for turn in turns
            if isinstance(turn, dict)
            for value in (turn.get("content"), turn.get("name"))
            if isinstance(value, str)
        )
        if total > MAX_CONVERSATION_CHARS:
            errors.append(
                FieldError(
                    at("messages"),
                    f"all turns together at most {MAX_CONVERSATION_CHARS} characters "
                    f"(contents and names), got {total}",
                )
            )
        if prompt is None:
            users = [
                i for i, t in enumerate(turns) if isinstance(t, dict) and t.get("role") == "user"
            ]
            if not users:
                errors.append(
                    FieldError(
                        at("messages"),
                        "needs a user turn when prompt is not given (the prompt is then the "
                        "last user turn)",
                    )
                )
            elif turns[users[-1]].get("content") == "":
                errors.append(
                    FieldError(
                        at("messages", users[-1], "content"),
                        "the last user turn is the prompt when prompt is not given: "
                        "it must not be empty",
                    )
                )
    flagged = raw.get("flagged_turn")
    if flagged is not None:
        if messages is None:
            errors.append(FieldError(at("flagged_turn"), "only with messages"))
        elif (
            turns
            and isinstance(flagged, int)
            and not isinstance(flagged, bool)
            and flagged >= len(turns)
        ):
            errors.append(
                FieldError(
                    at("flagged_turn"),
                    f"must be the index of a turn of messages: 0 to {len(turns) - 1}",
                )
            )
    return errors
