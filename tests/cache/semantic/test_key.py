"""semantic_key: the last user question, and a hash of everything that surrounds it."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("usearch", reason="needs the `semantic` extra: pip install -e '.[semantic]'")

from tokenomy.cache.semantic import semantic_key

Q = "What is the capital of France?"


def _user(text: Any) -> dict[str, Any]:
    return {"role": "user", "content": text}


def test_openai_question_is_the_last_user_message() -> None:
    key = semantic_key([{"role": "system", "content": "Be brief."}, _user(f"  {Q}\n")])
    assert key is not None
    assert key[0] == Q
    assert len(key[1]) == 32


@pytest.mark.parametrize(
    "other",
    [
        [{"role": "system", "content": "Answer in French."}, _user(Q)],  # another system prompt
        [_user("Hello"), {"role": "assistant", "content": "Hi!"}, _user(Q)],  # earlier turns
        [_user(Q)],  # no system prompt at all
    ],
)
def test_another_conversation_gets_another_context_hash(other: list[dict[str, Any]]) -> None:
    base = semantic_key([{"role": "system", "content": "Be brief."}, _user(Q)])
    key = semantic_key(other)
    assert base is not None and key is not None
    assert key[0] == base[0]
    assert key[1] != base[1]


def test_tools_and_extra_are_context() -> None:
    plain = semantic_key([_user(Q)])
    tool = {"type": "function", "function": {"name": "search", "parameters": {}}}
    with_tools = semantic_key([_user(Q)], tools=[tool])
    with_model = semantic_key([_user(Q)], extra={"model": "gpt-4o"})
    assert plain and with_tools and with_model
    assert len({plain[1], with_tools[1], with_model[1]}) == 3


def test_key_order_and_cache_control_do_not_matter() -> None:
    a = semantic_key(
        [_user([{"type": "text", "text": Q, "cache_control": {"type": "ephemeral"}}])],
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
    )
    b = semantic_key(
        [{"content": Q, "role": "user"}], system=[{"text": "Be brief.", "type": "text"}]
    )
    assert a is not None and a == b


def test_anthropic_blocks_text_is_the_question_and_the_rest_is_context() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA"}}
    other_image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "AB"},
    }
    a = semantic_key([_user([image, {"type": "text", "text": "What is in this picture?"}])])
    b = semantic_key([_user([other_image, {"type": "text", "text": "What is in this picture?"}])])
    assert a is not None and b is not None
    assert a[0] == b[0] == "What is in this picture?"
    assert a[1] != b[1]


@pytest.mark.parametrize(
    "messages",
    [
        [],
        [_user(Q), {"role": "assistant", "content": "The capital is"}],  # a prefill
        [_user([{"type": "tool_result", "tool_use_id": "t1", "content": "42"}])],
        [_user("   ")],
    ],
)
def test_no_user_text_last_means_not_cacheable(messages: list[dict[str, Any]]) -> None:
    assert semantic_key(messages) is None
