"""A conversation (CONTRACT §3 v2 `messages`) as the item page shows it: turn by turn, each
with its role's label, the flagged turn marked, and the prompt or response that came beside
the turns when they are not among them."""

from __future__ import annotations

from dataclasses import dataclass

from moderation.models import FlaggedItem
from moderation.services.pii import pii_spans

ROLE_LABELS = {"system": "System", "user": "User", "assistant": "Assistant", "tool": "Tool"}


@dataclass(frozen=True)
class Turn:
    number: int  # from 1, as people count; `flagged_turn` is this minus one
    role: str
    label: str
    name: str
    content: str
    flagged: bool


@dataclass(frozen=True)
class Conversation:
    turns: list[Turn]
    # The item's prompt and response when they are not the text of any turn (an upstream
    # sent both): shown under the turns, so nothing sent is hidden from the reviewer.
    prompt_beside: str
    response_beside: str

    @property
    def flagged(self) -> Turn | None:
        return next((t for t in self.turns if t.flagged), None)

    def has_pii(self) -> bool:
        texts = [self.prompt_beside, self.response_beside]
        texts += [t for turn in self.turns for t in (turn.content, turn.name)]
        return any(pii_spans(text) for text in texts if text)


def item_conversation(item: FlaggedItem) -> Conversation | None:
    """The item's conversation for display, or None for an item without one (or erased)."""
    if not item.messages or item.content_erased_at is not None:
        return None
    turns = [
        Turn(
            number=index + 1,
            role=str(raw.get("role", "")),
            label=ROLE_LABELS.get(str(raw.get("role", "")), str(raw.get("role", "")).title()),
            name=str(raw.get("name") or ""),
            content=str(raw.get("content") or ""),
            flagged=index == item.flagged_turn,
        )
        for index, raw in enumerate(item.messages)
    ]
    said = {t.content for t in turns}
    return Conversation(
        turns=turns,
        prompt_beside="" if item.prompt in said else item.prompt,
        response_beside="" if not item.response or item.response in said else item.response,
    )
