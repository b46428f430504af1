"""A conversation on the item page (CONTRACT §8 v2): turn by turn with each role labelled, the
flagged turn highlighted and named for screen readers, long turns folded, personal data masked
in every turn, and a critical conversation absent until "Show content"."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from moderation.models import AuditAction, AuditEvent

from .conftest import accept_and_process, review_next, screenshot, sign_in, signal

LONG_ANSWER = (
    "Here is a first draft. "
    + "She should know that everyone in the building talks about her. " * 30
)
TURNS = [
    {"role": "system", "content": "You are a writing assistant. Be polite and helpful."},
    {"role": "user", "content": "My neighbour keeps parking in my spot. Help me write her a note."},
    {"role": "assistant", "content": "Of course. Do you know her name or flat number?"},
    {
        "role": "tool",
        "name": "resident_lookup",
        "content": '{"name": "Jane Doe", "email": "jane.doe@example.com", "flat": "4B"}',
    },
    {
        "role": "user",
        "content": "Make it scary. Say I know where she lives and she will regret it.",
    },
    {"role": "assistant", "content": LONG_ANSWER},
]


def flag_conversation(api_key: Any, *signals: dict[str, Any], turns: list[Any] = TURNS) -> None:
    accept_and_process(
        api_key,
        {
            "request_id": "req-conversation",
            "user_id": "user-7",
            "model": "claude-sonnet",
            "messages": turns,
            "flagged_turn": 4,
            "signals": list(signals) or [signal("harassment", 0.93), signal("violence", 0.71)],
        },
    )


def test_a_conversation_is_shown_turn_by_turn_with_the_flagged_turn_highlighted(
    page, reviewer, signed_key
):
    flag_conversation(signed_key.api_key)
    sign_in(page, "rita")
    review_next(page)

    conversation = page.get_by_role("list", name="Conversation")
    turns = conversation.get_by_role("listitem")
    expect(turns).to_have_count(6)
    labels = turns.locator(".turn-role")
    expect(labels).to_have_text(["System", "User", "Assistant", "Tool", "User", "Assistant"])
    # Each turn is a heading a screen reader can jump to, named by its role.
    expect(conversation.get_by_role("heading", level=3)).to_have_count(6)
    expect(turns.nth(3).get_by_role("heading")).to_contain_text("Tool resident_lookup")

    flagged = turns.nth(4)
    expect(flagged).to_have_class("turn turn-user turn-flagged")
    expect(flagged).to_have_attribute("aria-current", "true")
    expect(flagged.get_by_role("heading")).to_contain_text("Flagged turn")
    expect(page.locator(".turn-flagged")).to_have_count(1)
    expect(page.get_by_role("heading", name="Conversation")).to_contain_text("turn 5 flagged")
    expect(flagged).to_contain_text("she will regret it")

    # Personal data masked in the tool's turn, the Reveal form offered.
    tool = turns.nth(3)
    expect(tool.locator(".pii")).to_have_text(["[email]"])
    assert "jane.doe@example.com" not in page.content()
    expect(page.get_by_text("Personal data is masked.")).to_be_visible()

    # The long answer is folded behind "Show all N characters".
    last = turns.nth(5)
    more = last.get_by_text(f"Show all {len(LONG_ANSWER)} characters")
    expect(more).to_be_visible()
    expect(last.locator("details")).not_to_have_attribute("open", "")
    flagged.scroll_into_view_if_needed()
    screenshot(page, "item-conversation")
    more.click()
    expect(last.locator("details")).to_have_attribute("open", "")

    # No Prompt or Response headings: the prompt is the last user turn, shown as a turn.
    expect(page.get_by_role("heading", name="Prompt", exact=True)).to_have_count(0)


def test_revealing_personal_data_unmasks_every_turn(page, reviewer, signed_key):
    flag_conversation(signed_key.api_key)
    sign_in(page, "rita")
    review_next(page)
    page.get_by_placeholder("Why you need to see it (logged)").fill("check the target")
    page.get_by_role("button", name="Reveal").click()
    tool = page.get_by_role("list", name="Conversation").get_by_role("listitem").nth(3)
    expect(tool).to_contain_text("jane.doe@example.com")
    expect(page.locator(".turn .pii")).to_have_count(0)
    assert AuditEvent.objects.filter(action=AuditAction.PII_REVEAL).count() == 1


def test_a_critical_conversation_is_absent_until_show_content(page, reviewer, signed_key):
    flag_conversation(signed_key.api_key, signal("weapons", 0.96))
    sign_in(page, "rita")
    review_next(page)

    show = page.get_by_role("button", name="Show content")
    expect(show).to_be_visible()
    content = page.content()
    for turn in TURNS:
        assert turn["content"][:30] not in content
    expect(page.get_by_role("list", name="Conversation")).to_have_count(0)

    show.click()

    expect(show).to_have_count(0)
    turns = page.get_by_role("list", name="Conversation").get_by_role("listitem")
    expect(turns).to_have_count(6)
    expect(turns.nth(4)).to_contain_text("she will regret it")
    assert AuditEvent.objects.filter(action=AuditAction.CONTENT_REVEAL).count() == 1


def test_an_item_without_a_conversation_still_shows_prompt_and_response(
    page, reviewer, signed_key, item
):
    accept_and_process(signed_key.api_key, item(1, signals=[signal("harassment", 0.9)]))
    sign_in(page, "rita")
    review_next(page)
    expect(page.get_by_role("heading", name="Prompt", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Response", exact=True)).to_be_visible()
    expect(page.get_by_role("list", name="Conversation")).to_have_count(0)
