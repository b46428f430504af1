"""Conversations on the flags API (CONTRACT §3 v2): `messages` and `flagged_turn`, every rule
and its 422 at its path, and what a valid conversation becomes once ingested."""

from __future__ import annotations

from typing import Any

import pytest

from moderation.models import FlaggedItem, InboundBatch
from moderation.services.ingest import batch_process

pytestmark = pytest.mark.django_db

CONVERSATION = [
    {"role": "system", "content": "You are a helpful assistant for a hardware store."},
    {"role": "user", "content": "What can I mix with bleach to clean grout?"},
    {"role": "assistant", "content": "", "name": "helper"},
    {"role": "tool", "content": '{"results": ["bleach + ammonia"]}', "name": "web_search"},
    {"role": "assistant", "content": "Never mix bleach with ammonia: it makes toxic gas."},
    {"role": "user", "content": "How much ammonia makes the most gas in a closed room?"},
]


def conversation_item(item: Any, n: int = 1, **overrides: Any) -> dict[str, Any]:
    """An item that sends a conversation instead of a prompt and response."""
    payload = item(n, messages=[dict(t) for t in CONVERSATION], flagged_turn=5)
    del payload["prompt"], payload["response"]
    payload.update(overrides)
    return payload


def errors_at(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.content
    return {e["path"]: e["message"] for e in response.json()["errors"]}


def refused(signed_key: Any, payload: dict[str, Any]) -> dict[str, str]:
    """The errors of a refused item; nothing of it was stored."""
    found = errors_at(signed_key.post(payload))
    assert InboundBatch.objects.count() == 0
    return found


# --- Accepted, stored, ingested ---------------------------------------------------------------


def test_a_conversation_without_prompt_is_stored_and_its_prompt_is_the_last_user_turn(
    signed_key, item
):
    response = signed_key.post(conversation_item(item))
    assert response.status_code == 202, response.content
    batch_process(batch_id=response.json()["batch_id"])
    stored = FlaggedItem.objects.get()
    assert stored.prompt == "How much ammonia makes the most gas in a closed room?"
    assert stored.response == ""
    assert stored.messages == CONVERSATION
    assert stored.flagged_turn == 5


def test_names_are_kept_only_where_given(signed_key, item):
    response = signed_key.post(conversation_item(item))
    batch_process(batch_id=response.json()["batch_id"])
    turns = FlaggedItem.objects.get().messages
    assert [("name" in t) for t in turns] == [False, False, True, True, False, False]
    assert turns[3] == {"role": "tool", "content": CONVERSATION[3]["content"], "name": "web_search"}


def test_messages_beside_prompt_and_response_keep_both(signed_key, item):
    payload = item(1, messages=CONVERSATION, flagged_turn=0)
    response = signed_key.post(payload)
    assert response.status_code == 202, response.content
    batch_process(batch_id=response.json()["batch_id"])
    stored = FlaggedItem.objects.get()
    assert stored.prompt == payload["prompt"] and stored.response == payload["response"]
    assert stored.messages == CONVERSATION and stored.flagged_turn == 0


def test_an_item_without_messages_stores_none(signed_key, item):
    response = signed_key.post(item(1))
    batch_process(batch_id=response.json()["batch_id"])
    stored = FlaggedItem.objects.get()
    assert stored.messages is None and stored.flagged_turn is None


def test_null_messages_and_flagged_turn_count_as_absent(signed_key, item):
    response = signed_key.post(item(1, messages=None, flagged_turn=None))
    assert response.status_code == 202, response.content


def test_flagged_turn_is_optional(signed_key, item):
    payload = conversation_item(item)
    del payload["flagged_turn"]
    response = signed_key.post(payload)
    assert response.status_code == 202, response.content
    batch_process(batch_id=response.json()["batch_id"])
    assert FlaggedItem.objects.get().flagged_turn is None


def test_a_batch_stores_each_items_conversation(signed_key, item):
    response = signed_key.post(
        {"items": [conversation_item(item, 1), item(2), conversation_item(item, 3, flagged_turn=1)]}
    )
    assert response.status_code == 202, response.content
    batch_process(batch_id=response.json()["batch_id"])
    by_request = {i.request_id: i for i in FlaggedItem.objects.all()}
    assert by_request["req_0001"].flagged_turn == 5
    assert by_request["req_0002"].messages is None
    assert by_request["req_0003"].flagged_turn == 1
    assert by_request["req_0003"].messages == CONVERSATION


def test_the_limits_are_inclusive(signed_key, item):
    turns = [{"role": "user", "content": "x" * 499}] * 199 + [
        {"role": "user", "content": "y" * (100_000 - 499 * 199 - 4), "name": "tool"}
    ]
    assert len(turns) == 200
    assert sum(len(t["content"]) + len(t.get("name", "")) for t in turns) == 100_000
    response = signed_key.post(conversation_item(item, messages=turns, flagged_turn=199))
    assert response.status_code == 202, response.content
    batch_process(batch_id=response.json()["batch_id"])
    stored = FlaggedItem.objects.get()
    assert len(stored.messages) == 200 and stored.prompt == turns[-1]["content"]


def test_an_empty_turn_is_accepted_where_it_is_not_the_prompt(signed_key, item):
    turns = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": ""}]
    response = signed_key.post(conversation_item(item, messages=turns, flagged_turn=1))
    assert response.status_code == 202, response.content


# --- Refused: every rule, at its path ---------------------------------------------------------


def test_neither_prompt_nor_messages(signed_key, item):
    payload = item(1)
    del payload["prompt"]
    assert refused(signed_key, payload) == {"prompt": "required: prompt or messages (or both)"}


def test_null_prompt_without_messages(signed_key, item):
    assert "prompt" in refused(signed_key, item(1, prompt=None))


def test_messages_must_be_a_non_empty_list(signed_key, item):
    assert "messages" in refused(
        signed_key, conversation_item(item, messages=[], flagged_turn=None)
    )
    assert "messages" in refused(signed_key, conversation_item(item, messages="hi"))
    assert "messages" in refused(signed_key, conversation_item(item, messages={"role": "user"}))


def test_at_most_200_turns(signed_key, item):
    turns = [{"role": "user", "content": "x"}] * 201
    found = refused(signed_key, conversation_item(item, messages=turns, flagged_turn=None))
    assert "messages" in found and "200" in found["messages"]


def test_at_most_100000_characters_together(signed_key, item):
    turns = [
        {"role": "user", "content": "x" * 50_000},
        {"role": "assistant", "content": "y" * 50_001},
    ]
    found = refused(signed_key, conversation_item(item, messages=turns, flagged_turn=None))
    assert found == {
        "messages": "all turns together at most 100000 characters (contents and names), got 100001"
    }


def test_names_count_toward_the_total(signed_key, item):
    turns = [{"role": "user", "content": "x" * 100_000, "name": "n"}]
    found = refused(signed_key, conversation_item(item, messages=turns, flagged_turn=None))
    assert "got 100001" in found["messages"]


def test_one_turn_over_the_limit_is_refused_at_its_content(signed_key, item):
    turns = [{"role": "user", "content": "x" * 100_001}]
    found = refused(signed_key, conversation_item(item, messages=turns, flagged_turn=None))
    assert "messages[0].content" in found


def test_an_unknown_role(signed_key, item):
    turns = [{"role": "user", "content": "hi"}, {"role": "developer", "content": "be terse"}]
    found = refused(signed_key, conversation_item(item, messages=turns, flagged_turn=None))
    assert set(found) == {"messages[1].role"}


def test_a_turn_without_role_or_content(signed_key, item):
    turns = [{"role": "user", "content": "hi"}, {"content": "x"}, {"role": "assistant"}]
    found = refused(signed_key, conversation_item(item, messages=turns, flagged_turn=None))
    assert set(found) == {"messages[1].role", "messages[2].content"}


def test_wrong_types_in_a_turn(signed_key, item):
    turns = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None},
        {"role": "tool", "content": "{}", "name": 7},
        "just text",
    ]
    found = refused(signed_key, conversation_item(item, messages=turns, flagged_turn=None))
    assert set(found) == {"messages[1].content", "messages[2].name", "messages[3]"}


def test_an_empty_name_and_a_long_one(signed_key, item):
    turns = [
        {"role": "user", "content": "hi", "name": ""},
        {"role": "tool", "content": "{}", "name": "t" * 129},
    ]
    found = refused(signed_key, conversation_item(item, messages=turns, flagged_turn=None))
    assert set(found) == {"messages[0].name", "messages[1].name"}


def test_unknown_fields_in_a_turn(signed_key, item):
    turns = [
        {"role": "assistant", "content": "", "tool_calls": []},
        {"role": "user", "content": "x"},
    ]
    found = refused(signed_key, conversation_item(item, messages=turns, flagged_turn=None))
    assert set(found) == {"messages[0].tool_calls"}


def test_no_user_turn_and_no_prompt(signed_key, item):
    turns = [{"role": "system", "content": "Be kind."}, {"role": "assistant", "content": "Hello"}]
    found = refused(signed_key, conversation_item(item, messages=turns, flagged_turn=None))
    assert set(found) == {"messages"}
    assert "needs a user turn" in found["messages"]


def test_no_user_turn_is_fine_with_a_prompt(signed_key, item):
    turns = [{"role": "system", "content": "Be kind."}, {"role": "assistant", "content": "Hello"}]
    response = signed_key.post(item(1, messages=turns))
    assert response.status_code == 202, response.content


def test_an_empty_last_user_turn_and_no_prompt(signed_key, item):
    turns = [{"role": "user", "content": "first"}, {"role": "user", "content": ""}]
    found = refused(signed_key, conversation_item(item, messages=turns, flagged_turn=None))
    assert set(found) == {"messages[1].content"}


def test_flagged_turn_must_index_an_existing_turn(signed_key, item):
    found = refused(signed_key, conversation_item(item, flagged_turn=6))
    assert found == {"flagged_turn": "must be the index of a turn of messages: 0 to 5"}


def test_flagged_turn_must_be_a_non_negative_integer(signed_key, item):
    for bad in (-1, 1.5, "2", True, [1]):
        assert set(refused(signed_key, conversation_item(item, flagged_turn=bad))) == {
            "flagged_turn"
        }, bad


def test_flagged_turn_without_messages(signed_key, item):
    assert refused(signed_key, item(1, flagged_turn=0)) == {"flagged_turn": "only with messages"}


def test_errors_in_a_batch_carry_the_items_index_and_refuse_the_whole_batch(signed_key, item):
    found = refused(
        signed_key,
        {
            "items": [
                conversation_item(item, 1),
                conversation_item(item, 2, flagged_turn=9),
                conversation_item(
                    item,
                    3,
                    messages=[{"role": "bot", "content": "x"}, {"role": "user", "content": "y"}],
                    flagged_turn=1,
                ),
            ]
        },
    )
    assert set(found) == {"items[1].flagged_turn", "items[2].messages[0].role"}


def test_every_error_at_once(signed_key, item):
    turns = [{"role": "system", "content": "x" * 100_000}, {"role": "robot", "content": 1}]
    found = refused(signed_key, conversation_item(item, messages=turns, flagged_turn=2))
    assert set(found) == {
        "messages",
        "messages[1].role",
        "messages[1].content",
        "flagged_turn",
    }
