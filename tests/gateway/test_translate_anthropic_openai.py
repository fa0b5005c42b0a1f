"""Anthropic Messages client (Claude Code) -> OpenAI-protocol deployment: requests, answers,
streams, errors, usage, each answer shape checked against the official SDKs' own types."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from tokenomy.gateway.providers import openai_usage
from tokenomy.gateway.sse import EventReader
from tokenomy.gateway.translate import TranslationError, translator

T = translator("anthropic", "openai")
assert T is not None
EVENT = TypeAdapter(RawMessageStreamEvent)
PNG = "iVBORw0KGgo="
HI = {"role": "user", "content": "hi"}
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
WEATHER_OPENAI = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": WEATHER["input_schema"],
        "description": "Weather for a city",
    },
}
OPENAI_USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 5,
    "total_tokens": 17,
    "prompt_tokens_details": {"cached_tokens": 4},
    "completion_tokens_details": {"reasoning_tokens": 2},
}


def tool_use(ident: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": ident, "name": name, "input": args}


# -- requests -----------------------------------------------------------------------------

REQUESTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "the minimum: max_tokens becomes max_completion_tokens",
        {"max_tokens": 100, "messages": [HI]},
        {"model": "gpt-x", "messages": [HI], "max_completion_tokens": 100},
    ),
    (
        "system string",
        {"max_tokens": 1, "system": "be brief", "messages": [HI]},
        {"messages": [{"role": "system", "content": "be brief"}, HI]},
    ),
    (
        "system blocks join into one string; cache_control dropped",
        {
            "max_tokens": 1,
            "system": [
                {"type": "text", "text": "a"},
                {"type": "text", "text": "b", "cache_control": {"type": "ephemeral"}},
            ],
            "messages": [HI],
        },
        {"messages": [{"role": "system", "content": "a\n\nb"}, HI]},
    ),
    (
        "sampling and stop sequences; top_k has no OpenAI equivalent",
        {
            "max_tokens": 1,
            "messages": [HI],
            "temperature": 0.3,
            "top_p": 0.9,
            "top_k": 5,
            "stop_sequences": ["END"],
        },
        {
            "model": "gpt-x",
            "messages": [HI],
            "max_completion_tokens": 1,
            "temperature": 0.3,
            "top_p": 0.9,
            "stop": ["END"],
        },
    ),
    (
        "a stream always asks for usage",
        {"max_tokens": 1, "messages": [HI], "stream": True},
        {"stream": True, "stream_options": {"include_usage": True}},
    ),
    (
        "a single text block is sent as a string",
        {
            "max_tokens": 1,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        },
        {"messages": [HI]},
    ),
    (
        "images: base64 -> data URL, url -> url; a pdf -> file",
        {
            "max_tokens": 1,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what?"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                        },
                        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
                        {
                            "type": "document",
                            "source": {
                                "type": "base64",
                                "media_type": "application/pdf",
                                "data": "JVBE",
                            },
                        },
                    ],
                }
            ],
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what?"},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                        {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}},
                        {
                            "type": "file",
                            "file": {
                                "filename": "document.pdf",
                                "file_data": "data:application/pdf;base64,JVBE",
                            },
                        },
                    ],
                }
            ]
        },
    ),
    (
        "tools and tool_choice any -> required, disable_parallel_tool_use",
        {
            "max_tokens": 1,
            "messages": [HI],
            "tools": [WEATHER],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        },
        {"tools": [WEATHER_OPENAI], "tool_choice": "required", "parallel_tool_calls": False},
    ),
    (
        "tool_choice a tool",
        {
            "max_tokens": 1,
            "messages": [HI],
            "tools": [WEATHER],
            "tool_choice": {"type": "tool", "name": "get_weather"},
        },
        {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
    ),
    (
        "tool_choice none",
        {"max_tokens": 1, "messages": [HI], "tools": [WEATHER], "tool_choice": {"type": "none"}},
        {"tool_choice": "none"},
    ),
    (
        "parallel tool calls; results become tool messages before the user's other blocks",
        {
            "max_tokens": 1,
            "messages": [
                HI,
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                        {"type": "text", "text": "Checking."},
                        tool_use("toolu_1", "get_weather", {"city": "Paris"}),
                        tool_use("toolu_2", "get_weather", {}),
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_2",
                            "content": [
                                {"type": "text", "text": "no such city"},
                                {
                                    "type": "image",
                                    "source": {
                                        "type": "base64",
                                        "media_type": "image/png",
                                        "data": PNG,
                                    },
                                },
                            ],
                            "is_error": True,
                        },
                        {"type": "text", "text": "and?"},
                    ],
                },
            ],
        },
        {
            "messages": [
                HI,
                {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_calls": [
                        {
                            "id": "toolu_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        },
                        {
                            "id": "toolu_2",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": "{}"},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
                {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: no such city"},
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                        {"type": "text", "text": "and?"},
                    ],
                },
            ]
        },
    ),
    (
        "an assistant turn of tool calls only has no content",
        {
            "max_tokens": 1,
            "messages": [HI, {"role": "assistant", "content": [tool_use("t", "f", {})]}],
        },
        {
            "messages": [
                HI,
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "t",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
            ]
        },
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"), [c[1:] for c in REQUESTS], ids=[c[0] for c in REQUESTS]
)
def test_request(body: dict[str, Any], expected: dict[str, Any]) -> None:
    out = T.request({"model": "alias", **body}, "gpt-x", stream=body.get("stream") is True)
    assert out["model"] == "gpt-x"
    if "model" in expected:
        assert out == expected  # the whole body: nothing else leaked through
    for key, value in expected.items():
        assert out[key] == value, key


REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("no messages", {"messages": []}, "messages"),
    (
        "a system role in messages",
        {"messages": [{"role": "system", "content": "x"}]},
        "messages[0].role",
    ),
    (
        "a server tool",
        {"messages": [HI], "tools": [{"type": "web_search_20250305", "name": "web_search"}]},
        "web_search_20250305",
    ),
    (
        "a file-API image",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}],
                }
            ]
        },
        "messages[0].content[0].source",
    ),
    (
        "a url document",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "document", "source": {"type": "url", "url": "u"}}],
                }
            ]
        },
        "document",
    ),
    (
        "a server tool result in history",
        {
            "messages": [
                HI,
                {"role": "assistant", "content": [{"type": "server_tool_use", "id": "s"}]},
            ]
        },
        "server_tool_use",
    ),
    (
        "an unknown tool_choice",
        {"messages": [HI], "tools": [WEATHER], "tool_choice": {"type": "x"}},
        "tool_choice",
    ),
]


@pytest.mark.parametrize(("body", "needle"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_request_refused(body: dict[str, Any], needle: str) -> None:
    with pytest.raises(TranslationError) as info:
        T.request({"max_tokens": 1, **body}, "gpt-x", stream=False)
    assert needle in str(info.value)


# -- responses ----------------------------------------------------------------------------


def completion(
    message: dict[str, Any], finish: str, usage: dict[str, Any] = OPENAI_USAGE
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-x",
        "choices": [
            {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}
        ],
        "usage": usage,
    }


def test_response_text_and_usage() -> None:
    out = T.response(completion({"content": "Hello"}, "stop"), "fast")
    message = Message.model_validate(out)
    assert message.model == "fast"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Hello"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    cached = OPENAI_USAGE["prompt_tokens_details"]["cached_tokens"]
    # Anthropic's input_tokens exclude the cache reads OpenAI's prompt_tokens include.
    assert message.usage.input_tokens == OPENAI_USAGE["prompt_tokens"] - cached
    assert message.usage.cache_read_input_tokens == cached
    assert message.usage.cache_creation_input_tokens == 0
    assert message.usage.output_tokens == OPENAI_USAGE["completion_tokens"]


def test_response_cache_writes_when_reported() -> None:
    usage = {
        "prompt_tokens": 30,
        "completion_tokens": 1,
        "prompt_tokens_details": {"cached_tokens": 10, "cache_write_tokens": 5},
    }
    message = Message.model_validate(T.response(completion({"content": "x"}, "stop", usage), "a"))
    assert (
        message.usage.input_tokens,
        message.usage.cache_read_input_tokens,
        message.usage.cache_creation_input_tokens,
    ) == (15, 10, 5)


def test_response_parallel_tool_calls() -> None:
    calls = [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        },
        {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": ""}},
    ]
    message = Message.model_validate(
        T.response(completion({"content": None, "tool_calls": calls}, "tool_calls"), "a")
    )
    assert [(b.type, b.id, b.name, b.input) for b in message.content] == [  # type: ignore[union-attr]
        ("tool_use", "call_1", "get_weather", {"city": "Paris"}),
        ("tool_use", "call_2", "get_time", {}),
    ]
    assert message.stop_reason == "tool_use"


@pytest.mark.parametrize(
    ("finish", "has_calls", "stop_reason"),
    [
        ("stop", False, "end_turn"),
        ("length", False, "max_tokens"),
        ("tool_calls", True, "tool_use"),
        ("content_filter", False, "refusal"),
        ("stop", True, "tool_use"),  # compatible servers that say "stop" after tool calls
    ],
)
def test_stop_reasons(finish: str, has_calls: bool, stop_reason: str) -> None:
    message: dict[str, Any] = {"content": "x"}
    if has_calls:
        message["tool_calls"] = [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ]
    assert (
        Message.model_validate(T.response(completion(message, finish), "a")).stop_reason
        == stop_reason
    )


# -- streams ------------------------------------------------------------------------------


def chunk(
    delta: dict[str, Any] | None, finish: str | None = None, usage: Any = None
) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-x",
        "choices": choices,
        "usage": usage,
    }


TEXT_STREAM = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Hel"}),
    chunk({"content": "lo"}),
    chunk({}, "stop"),
    chunk(None, usage=OPENAI_USAGE),
]
TOOL_STREAM = [
    chunk({"role": "assistant", "content": "Checking."}),
    chunk(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        }
    ),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
    chunk(
        {
            "tool_calls": [
                {
                    "index": 1,
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": "{}"},
                }
            ]
        }
    ),
    chunk({}, "tool_calls"),
    chunk(None, usage=OPENAI_USAGE),
]


def run_stream(chunks: list[Any], *, done: bool = True) -> tuple[Any, list[bytes]]:
    stream = T.stream("fast", include_usage=False)
    out: list[bytes] = []
    for c in chunks:
        out += stream.feed("", json.dumps(c).encode())
    if done:
        out += stream.feed("", b"[DONE]")
        out += stream.finish()
    return stream, out


def parse_anthropic(frames: list[bytes]) -> list[Any]:
    """The events, each validated by the SDK's type, its event: name matching its type."""
    events = EventReader().feed(b"".join(frames))
    parsed = []
    for e in events:
        value = EVENT.validate_python(json.loads(e.data))
        assert e.name == value.type
        parsed.append(value)
    return parsed


def assert_well_formed(events: list[Any]) -> None:
    """message_start first, message_stop last, every block started before its deltas and
    stopped once, one block open at a time."""
    assert events[0].type == "message_start"
    assert [e.type for e in events[-2:]] == ["message_delta", "message_stop"]
    open_block = None
    seen = []
    for e in events[1:-2]:
        if e.type == "content_block_start":
            assert open_block is None
            open_block = e.index
            seen.append(e.index)
        elif e.type == "content_block_delta":
            assert e.index == open_block
        elif e.type == "content_block_stop":
            assert e.index == open_block
            open_block = None
    assert open_block is None
    assert seen == list(range(len(seen)))


def test_stream_text() -> None:
    stream, frames = run_stream(TEXT_STREAM)
    events = parse_anthropic(frames)
    assert_well_formed(events)
    assert events[0].message.model == "fast"
    assert events[0].message.id == "chatcmpl-1"
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert text == "Hello"
    delta = events[-2]
    assert delta.delta.stop_reason == "end_turn"
    cached = OPENAI_USAGE["prompt_tokens_details"]["cached_tokens"]
    assert delta.usage.input_tokens == OPENAI_USAGE["prompt_tokens"] - cached
    assert delta.usage.cache_read_input_tokens == cached
    assert delta.usage.output_tokens == OPENAI_USAGE["completion_tokens"]
    # Provider side, for recording:
    assert stream.finished
    assert stream.finish_reason == "stop"
    assert stream.model == "gpt-x"
    assert stream.token_usage() == openai_usage(OPENAI_USAGE)


def test_stream_parallel_tool_calls() -> None:
    stream, frames = run_stream(TOOL_STREAM)
    events = parse_anthropic(frames)
    assert_well_formed(events)
    blocks = [e.content_block for e in events if e.type == "content_block_start"]
    assert [(b.type, getattr(b, "id", None), getattr(b, "name", None)) for b in blocks] == [
        ("text", None, None),
        ("tool_use", "call_1", "get_weather"),
        ("tool_use", "call_2", "get_time"),
    ]
    inputs: dict[int, str] = {}
    for e in events:
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta":
            inputs[e.index] = inputs.get(e.index, "") + e.delta.partial_json
    assert {i: json.loads(v) for i, v in inputs.items()} == {1: {"city": "Paris"}, 2: {}}
    assert events[-2].delta.stop_reason == "tool_use"
    assert stream.finish_reason == "tool_calls"


def test_stream_usage_on_the_finish_chunk_itself() -> None:
    """Some OpenAI-compatible servers put usage on the finish chunk, not after it."""
    stream, frames = run_stream([chunk({"content": "x"}), chunk({}, "length", OPENAI_USAGE)])
    events = parse_anthropic(frames)
    assert events[-2].delta.stop_reason == "max_tokens"
    assert events[-2].usage.output_tokens == OPENAI_USAGE["completion_tokens"]
    assert stream.token_usage() == openai_usage(OPENAI_USAGE)


def test_stream_that_ends_without_done() -> None:
    stream, frames = run_stream(TEXT_STREAM, done=False)
    assert not stream.finished
    assert [e.type for e in parse_anthropic(frames)][-1] != "message_stop"
    events = parse_anthropic(frames + stream.finish())
    assert_well_formed(events)
    assert stream.finish() == []


def test_stream_error_chunk() -> None:
    error = {"error": {"message": "boom", "type": "server_error", "code": None}}
    stream, frames = run_stream([TEXT_STREAM[0], error, TEXT_STREAM[1]], done=False)
    last = EventReader().feed(b"".join(frames))[-1]
    assert last.name == "error"
    body = json.loads(last.data)
    assert body == {"type": "error", "error": {"type": "api_error", "message": "boom"}}
    assert stream.error == "boom"
    assert stream.finish() == []


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (429, "rate_limit_error"),
        (503, "overloaded_error"),
    ],
)
def test_error_keeps_status_and_message(status: int, kind: str) -> None:
    body = {"error": {"message": f"failed with {status}", "type": "x", "param": None, "code": None}}
    out = json.loads(T.error(status, json.dumps(body).encode()))
    assert out == {"type": "error", "error": {"type": kind, "message": f"failed with {status}"}}


def test_error_from_an_unparsable_body() -> None:
    out = json.loads(T.error(504, b"upstream timed out"))
    assert out == {"type": "error", "error": {"type": "api_error", "message": "upstream timed out"}}
