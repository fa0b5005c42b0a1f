"""The request hashes of cache/keys.py: the record's ``prompt_hash`` follows the exact cache's
notion of one request, ``prefix_hash`` the part of a conversation kept from turn to turn;
and sharing the normalised bytes left the cache keys as they were."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from tokenomy.cache.keys import key_of, normal_request, prefix_hash, prompt_hash, request_key

SYSTEM = {"role": "system", "content": "You answer in French."}
Q1 = {"role": "user", "content": "What is 2 + 2?"}
A1 = {"role": "assistant", "content": "4"}
Q2 = {"role": "user", "content": "And times 3?"}
TOOLS = [{"type": "function", "function": {"name": "calc", "parameters": {"type": "object"}}}]


def chat(**kw: Any) -> dict[str, Any]:
    return {"model": "fast", "messages": [SYSTEM, Q1], "temperature": 0, **kw}


def p_hash(body: dict[str, Any], protocol: str = "openai", operation: str = "chat") -> str:
    return prompt_hash(normal_request(protocol, operation, body))


def test_the_prompt_hash_is_equal_exactly_when_the_cache_key_is() -> None:
    base = chat()
    same = [
        chat(user="ann", metadata={"team": "a"}, store=True),
        chat(stream=False, stream_options={"include_usage": True}),
        chat(
            messages=[
                SYSTEM,
                {"role": "user", "content": [{"type": "text", "text": Q1["content"]}]},
            ]
        ),
        dict(reversed(list(base.items()))),
    ]
    different = [
        chat(temperature=0.7),
        chat(messages=[SYSTEM, {"role": "user", "content": "What is 2 + 3?"}]),
        chat(stream=True),
        chat(tools=TOOLS),
        chat(model="slow"),
    ]
    for body in [*same, *different]:
        assert (p_hash(body) == p_hash(base)) == (
            request_key("ns", "openai", "chat", body) == request_key("ns", "openai", "chat", base)
        )
    assert {p_hash(b) for b in same} == {p_hash(base)}
    assert len({p_hash(b) for b in different} | {p_hash(base)}) == len(different) + 1
    # The protocol and operation are part of it; the tenant is not (it is not an argument).
    assert p_hash(base, "anthropic", "messages") != p_hash(base)
    assert p_hash(base, "openai", "embeddings") != p_hash(base)
    assert len(p_hash(base)) == 32 and int(p_hash(base), 16) >= 0


def test_cache_keys_are_the_bytes_they_always_were() -> None:
    """The key is hashed from the shared normalised bytes with the namespace spliced in: it
    must equal the SHA-256 of [namespace, protocol, operation, body] it was before, or every
    stored entry (SQLite file, Redis) would be lost on upgrade."""
    body = chat(
        user="ann",
        stream=False,
        messages=[{"role": "user", "content": [{"type": "text", "text": "é"}]}],
    )
    kept = {k: v for k, v in body.items() if k not in ("user", "stream")}
    kept["messages"] = [{"role": "user", "content": "é"}]
    for namespace in ("default", "key:01J", 'odd "name"\n'):
        before = orjson.dumps([namespace, "openai", "chat", kept], option=orjson.OPT_SORT_KEYS)
        expected = hashlib.sha256(before).hexdigest()
        assert request_key(namespace, "openai", "chat", body) == expected
        assert key_of(namespace, normal_request("openai", "chat", body)) == expected


def test_normalising_never_changes_the_request_it_reads() -> None:
    body = chat(messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    copy = orjson.loads(orjson.dumps(body))
    normal_request("openai", "chat", body)
    prefix_hash("openai", "chat", body)
    assert body == copy


def test_turns_of_one_conversation_share_the_prefix_hash() -> None:
    turn1 = chat(tools=TOOLS)
    turn2 = chat(tools=TOOLS, messages=[SYSTEM, Q1, A1, Q2], temperature=0.5, stream=True)
    other = chat(tools=TOOLS, messages=[SYSTEM, {"role": "user", "content": "Who are you?"}])
    first = prefix_hash("openai", "chat", turn1)
    assert first is not None and len(first) == 32
    assert prefix_hash("openai", "chat", turn2) == first
    assert prefix_hash("openai", "chat", other) != first
    # The model, the tools and the system prompt are part of it.
    assert prefix_hash("openai", "chat", chat()) != first
    assert prefix_hash("openai", "chat", chat(tools=TOOLS, model="slow")) != first
    developer = {"role": "developer", "content": "Be brief."}
    assert prefix_hash("openai", "chat", chat(tools=TOOLS, messages=[developer, Q1])) != first


def test_anthropic_prefix_ignores_where_the_cache_breakpoint_moved() -> None:
    """A client marks the newest message for caching on each turn: the first question is
    marked on turn one and not on turn two, with the same content."""
    mark = {"type": "ephemeral"}
    system = [{"type": "text", "text": "You answer in French.", "cache_control": mark}]
    turn1 = {
        "model": "claude",
        "max_tokens": 100,
        "system": system,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "2 + 2?", "cache_control": mark}]}
        ],
    }
    turn2 = {
        **turn1,
        "messages": [
            {"role": "user", "content": "2 + 2?"},
            {"role": "assistant", "content": "4"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "Times 3?", "cache_control": mark}],
            },
        ],
    }
    other = {**turn1, "messages": [{"role": "user", "content": "3 + 3?"}]}
    no_system = {**turn1, "system": "Answer in German."}
    first = prefix_hash("anthropic", "messages", turn1)
    assert prefix_hash("anthropic", "messages", turn2) == first
    assert prefix_hash("anthropic", "messages", other) != first
    assert prefix_hash("anthropic", "messages", no_system) != first
    # The same words in the OpenAI protocol are another request.
    assert prefix_hash("openai", "chat", turn1) != first


def test_responses_api_prefix_and_requests_without_a_conversation() -> None:
    plain = {"model": "gpt-5", "instructions": "Be brief.", "input": "2 + 2?"}
    as_items = {**plain, "input": [{"role": "user", "content": "2 + 2?"}, A1, Q2]}
    assert prefix_hash("openai", "responses", plain) == prefix_hash("openai", "responses", as_items)
    assert prefix_hash("openai", "responses", {**plain, "instructions": "Be long."}) != (
        prefix_hash("openai", "responses", plain)
    )
    assert prefix_hash("openai", "embeddings", {"model": "e", "input": ["a"]}) is None
    assert prefix_hash("openai", "chat", {"model": "fast", "messages": "not a list"}) is None
