"""OpenAI chat-completions client -> Anthropic deployment: requests, answers, streams, errors,
usage, each answer shape checked against the official SDKs' own types."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tokenomy.gateway.providers import anthropic_usage
from tokenomy.gateway.sse import EventReader
from tokenomy.gateway.translate import DEFAULT_MAX_TOKENS, TranslationError, translator

T = translator("openai", "anthropic")
assert T is not None
PNG = "iVBORw0KGgo="
HI = {"role": "user", "content": "hi"}
HI_BLOCKS = {"role": "user", "content": [{"type": "text", "text": "hi"}]}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
WEATHER_ANTHROPIC = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": WEATHER["function"]["parameters"],
}
USAGE = {
    "input_tokens": 10,
    "cache_creation_input_tokens": 3,
    "cache_read_input_tokens": 20,
    "output_tokens": 5,
}


def call(ident: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": ident, "type": "function", "function": {"name": name, "arguments": arguments}}


# -- requests -----------------------------------------------------------------------------

REQUESTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "system string stays a string, max_tokens defaults",
        {"messages": [{"role": "system", "content": "be brief"}, HI]},
        {"system": "be brief", "messages": [HI_BLOCKS], "max_tokens": DEFAULT_MAX_TOKENS},
    ),
    (
        "system and developer messages anywhere gather into blocks",
        {
            "messages": [
                {"role": "developer", "content": [{"type": "text", "text": "a"}]},
                HI,
                {"role": "system", "content": "b"},
            ]
        },
        {
            "system": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            "messages": [HI_BLOCKS],
        },
    ),
    (
        "cache_control on a system part is kept",
        {
            "messages": [
                {
                    "role": "system",
                    "content": [
                        {"type": "text", "text": "long", "cache_control": {"type": "ephemeral"}}
                    ],
                },
                HI,
            ]
        },
        {"system": [{"type": "text", "text": "long", "cache_control": {"type": "ephemeral"}}]},
    ),
    (
        "max_completion_tokens wins over max_tokens",
        {"messages": [HI], "max_tokens": 10, "max_completion_tokens": 20},
        {"max_tokens": 20},
    ),
    ("max_tokens", {"messages": [HI], "max_tokens": 10}, {"max_tokens": 10}),
    (
        "temperature above Anthropic's 1 is capped, top_p kept",
        {"messages": [HI], "temperature": 1.5, "top_p": 0.9},
        {"temperature": 1, "top_p": 0.9},
    ),
    ("temperature below 1 kept", {"messages": [HI], "temperature": 0.2}, {"temperature": 0.2}),
    ("stop string", {"messages": [HI], "stop": "END"}, {"stop_sequences": ["END"]}),
    ("stop list", {"messages": [HI], "stop": ["a", "b"]}, {"stop_sequences": ["a", "b"]}),
    ("stream", {"messages": [HI], "stream": True}, {"stream": True}),
    ("user", {"messages": [HI], "user": "u1"}, {"metadata": {"user_id": "u1"}}),
    (
        "images: data URL -> base64, http URL -> url",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what?"},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                        {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}},
                    ],
                }
            ]
        },
        {
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
                    ],
                }
            ]
        },
    ),
    (
        "pdf file -> document",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "file",
                            "file": {
                                "file_data": "data:application/pdf;base64,JVBE",
                                "filename": "a.pdf",
                            },
                        }
                    ],
                }
            ]
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "document",
                            "source": {
                                "type": "base64",
                                "media_type": "application/pdf",
                                "data": "JVBE",
                            },
                        }
                    ],
                }
            ]
        },
    ),
    (
        "tools, tool_choice required -> any",
        {"messages": [HI], "tools": [WEATHER], "tool_choice": "required"},
        {"tools": [WEATHER_ANTHROPIC], "tool_choice": {"type": "any"}},
    ),
    (
        "tool_choice none",
        {"messages": [HI], "tools": [WEATHER], "tool_choice": "none"},
        {"tool_choice": {"type": "none"}},
    ),
    (
        "tool_choice a function",
        {
            "messages": [HI],
            "tools": [WEATHER],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        },
        {"tool_choice": {"type": "tool", "name": "get_weather"}},
    ),
    (
        "parallel_tool_calls false",
        {"messages": [HI], "tools": [WEATHER], "parallel_tool_calls": False},
        {"tool_choice": {"type": "auto", "disable_parallel_tool_use": True}},
    ),
    (
        "a tool without parameters gets an empty object schema",
        {"messages": [HI], "tools": [{"type": "function", "function": {"name": "now"}}]},
        {"tools": [{"name": "now", "input_schema": {"type": "object", "properties": {}}}]},
    ),
    (
        "parallel tool calls and their results: one user turn holds every result",
        {
            "messages": [
                HI,
                {
                    "role": "assistant",
                    "content": "Looking.",
                    "tool_calls": [
                        call("c1", "get_weather", '{"city": "Paris"}'),
                        call("c2", "get_weather", ""),
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
                {
                    "role": "tool",
                    "tool_call_id": "c2",
                    "content": [{"type": "text", "text": "rain"}],
                },
                {"role": "user", "content": "thanks"},
            ]
        },
        {
            "messages": [
                HI_BLOCKS,
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Looking."},
                        {
                            "type": "tool_use",
                            "id": "c1",
                            "name": "get_weather",
                            "input": {"city": "Paris"},
                        },
                        {"type": "tool_use", "id": "c2", "name": "get_weather", "input": {}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "c1", "content": "sunny"},
                        {
                            "type": "tool_result",
                            "tool_use_id": "c2",
                            "content": [{"type": "text", "text": "rain"}],
                        },
                        {"type": "text", "text": "thanks"},
                    ],
                },
            ]
        },
    ),
    (
        "hints without an equivalent are dropped",
        {"messages": [HI], "seed": 1, "logprobs": True, "presence_penalty": 0.5, "n": 1},
        {"model": "claude-x", "messages": [HI_BLOCKS], "max_tokens": DEFAULT_MAX_TOKENS},
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"), [c[1:] for c in REQUESTS], ids=[c[0] for c in REQUESTS]
)
def test_request(body: dict[str, Any], expected: dict[str, Any]) -> None:
    out = T.request({"model": "alias", **body}, "claude-x", stream=body.get("stream") is True)
    assert out["model"] == "claude-x"
    if set(expected) >= {"model", "messages", "max_tokens"}:
        assert out == expected  # the whole body: nothing else leaked through
    for key, value in expected.items():
        assert out[key] == value, key


REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("n > 1", {"messages": [HI], "n": 3}, "n=3"),
    ("deprecated functions", {"messages": [HI], "functions": [{"name": "f"}]}, "functions"),
    ("json mode", {"messages": [HI], "response_format": {"type": "json_object"}}, "json_object"),
    ("audio output", {"messages": [HI], "modalities": ["text", "audio"]}, "audio"),
    ("no messages", {"messages": []}, "messages"),
    ("unknown role", {"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    (
        "audio input",
        {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
        "messages[0].content[0]",
    ),
    (
        "a non-pdf file",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "file", "file": {"file_data": "data:text/csv;base64,YQ=="}}
                    ],
                }
            ]
        },
        "PDF",
    ),
    (
        "a percent-encoded data URL",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "data:image/png,abc"}}],
                }
            ]
        },
        "base64",
    ),
    (
        "a tool message without its call id",
        {"messages": [{"role": "tool", "content": "x"}]},
        "tool_call_id",
    ),
    (
        "a non-function tool",
        {"messages": [HI], "tools": [{"type": "custom", "custom": {}}]},
        "tools[0]",
    ),
    (
        "an unknown tool_choice",
        {"messages": [HI], "tools": [WEATHER], "tool_choice": "always"},
        "tool_choice",
    ),
]


@pytest.mark.parametrize(("body", "needle"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_request_refused(body: dict[str, Any], needle: str) -> None:
    with pytest.raises(TranslationError) as info:
        T.request(body, "claude-x", stream=False)
    assert needle in str(info.value)
    assert isinstance(info.value, ValueError)


def test_invalid_tool_arguments_are_kept_not_lost() -> None:
    body = {"messages": [HI, {"role": "assistant", "tool_calls": [call("c", "f", "{oops")]}]}
    out = T.request(body, "m", stream=False)
    assert out["messages"][1]["content"] == [
        {"type": "tool_use", "id": "c", "name": "f", "input": {"_unparsed_arguments": "{oops"}}
    ]


# -- responses ----------------------------------------------------------------------------


def anthropic_message(
    content: list[dict[str, Any]], stop: str, usage: dict[str, Any] = USAGE
) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }


def test_response_text_and_usage() -> None:
    out = T.response(
        anthropic_message(
            [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}], "end_turn"
        ),
        "fast",
    )
    done = ChatCompletion.model_validate(out)
    assert done.model == "fast"
    assert done.id == "msg_1"
    assert done.choices[0].message.content == "Hello"
    assert done.choices[0].message.tool_calls is None
    assert done.choices[0].finish_reason == "stop"
    usage = done.usage
    assert usage is not None
    read, write = USAGE["cache_read_input_tokens"], USAGE["cache_creation_input_tokens"]
    # OpenAI's prompt_tokens include cache reads and writes.
    assert usage.prompt_tokens == USAGE["input_tokens"] + read + write
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == read
    assert usage.completion_tokens == USAGE["output_tokens"]
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_response_parallel_tool_calls() -> None:
    content = [
        {"type": "text", "text": "Checking both."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}},
    ]
    done = ChatCompletion.model_validate(T.response(anthropic_message(content, "tool_use"), "a"))
    message = done.choices[0].message
    assert message.content == "Checking both."
    assert message.tool_calls is not None
    assert [
        (c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls
    ] == [
        ("toolu_1", "get_weather", {"city": "Paris"}),
        ("toolu_2", "get_weather", {"city": "Rome"}),
    ]
    assert done.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("model_context_window_exceeded", "length"),
        ("pause_turn", "stop"),
    ],
)
def test_finish_reasons(stop_reason: str, finish_reason: str) -> None:
    done = ChatCompletion.model_validate(T.response(anthropic_message([], stop_reason), "a"))
    assert done.choices[0].finish_reason == finish_reason
    assert done.choices[0].message.content is None


# -- streams ------------------------------------------------------------------------------


def anthropic_events(
    blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]], stop: str
) -> list[tuple[str, dict[str, Any]]]:
    start_usage = {**USAGE, "output_tokens": 1}
    message = {**anthropic_message([], stop, start_usage), "stop_reason": None}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": message})
    ]
    for i, (block, deltas) in enumerate(blocks):
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": i, "content_block": block},
            )
        )
        events.append(("ping", {"type": "ping"}))
        events += [
            ("content_block_delta", {"type": "content_block_delta", "index": i, "delta": d})
            for d in deltas
        ]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    delta = {"stop_reason": stop, "stop_sequence": None}
    events.append(
        ("message_delta", {"type": "message_delta", "delta": delta, "usage": {"output_tokens": 7}})
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


TEXT_STREAM = anthropic_events(
    [({"type": "text", "text": ""}, [{"type": "text_delta", "text": t} for t in ("Hel", "lo")])],
    "end_turn",
)
TOOL_STREAM = anthropic_events(
    [
        ({"type": "text", "text": ""}, [{"type": "text_delta", "text": "Checking."}]),
        (
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
            [
                {"type": "input_json_delta", "partial_json": ""},
                {"type": "input_json_delta", "partial_json": '{"city": '},
                {"type": "input_json_delta", "partial_json": '"Paris"}'},
            ],
        ),
        (
            {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}},
            [{"type": "input_json_delta", "partial_json": "{}"}],
        ),
    ],
    "tool_use",
)


def run_stream(
    events: list[tuple[str, dict[str, Any]]], *, include_usage: bool, end: bool = True
) -> tuple[Any, list[bytes]]:
    stream = T.stream("fast", include_usage=include_usage)
    out: list[bytes] = []
    for name, data in events:
        out += stream.feed(name, json.dumps(data).encode())
    if end:
        out += stream.finish()
    return stream, out


def parse_openai(frames: list[bytes]) -> tuple[list[ChatCompletionChunk], bool]:
    """Chunks (validated by the SDK's type) and whether [DONE] ended the stream."""
    events = EventReader().feed(b"".join(frames))
    assert all(e.name == "message" for e in events)  # OpenAI streams have no event names
    done = [e for e in events if e.data == b"[DONE]"]
    assert len(done) <= 1
    if done:
        assert events[-1].data == b"[DONE]"
    chunks = [
        ChatCompletionChunk.model_validate(json.loads(e.data))
        for e in events
        if e.data != b"[DONE]"
    ]
    return chunks, bool(done)


def test_stream_text_with_usage() -> None:
    stream, frames = run_stream(TEXT_STREAM, include_usage=True)
    chunks, done = parse_openai(frames)
    assert done
    assert chunks[0].choices[0].delta.role == "assistant"
    assert {c.id for c in chunks} == {"msg_1"}
    assert {c.model for c in chunks} == {"fast"}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["stop"]
    *body, last = chunks
    assert all(c.usage is None for c in body)
    assert last.choices == []
    assert last.usage is not None
    # message_delta's cumulative output count replaced message_start's.
    assert last.usage.completion_tokens == 7
    assert (
        last.usage.prompt_tokens
        == USAGE["input_tokens"]
        + USAGE["cache_read_input_tokens"]
        + USAGE["cache_creation_input_tokens"]
    )
    # Provider side, for recording:
    assert stream.finished
    assert stream.finish_reason == "end_turn"
    assert stream.model == "claude-x"
    assert stream.token_usage() == anthropic_usage({**USAGE, "output_tokens": 7})
    assert stream.error is None
    assert stream.finish() == []  # closing events are never sent twice


def test_stream_without_usage_has_no_usage_chunk() -> None:
    _, frames = run_stream(TEXT_STREAM, include_usage=False)
    chunks, done = parse_openai(frames)
    assert done
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)
    assert all(b'"usage"' not in f for f in frames)


def test_stream_parallel_tool_calls() -> None:
    stream, frames = run_stream(TOOL_STREAM, include_usage=False)
    chunks, _ = parse_openai(frames)
    calls: dict[int, dict[str, str]] = {}
    order = []
    for chunk in chunks:
        for tc in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
            if tc.id is not None:
                # id, type and name come once, in the call's first delta, with empty arguments
                assert tc.function is not None and tc.function.name and tc.type == "function"
                assert tc.function.arguments == ""
                entry["id"], entry["name"] = tc.id, tc.function.name
                order.append(tc.index)
            elif tc.function is not None:
                assert tc.function.name is None
                entry["arguments"] += tc.function.arguments or ""
    assert order == [0, 1]
    assert calls == {
        0: {"id": "toolu_1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        1: {"id": "toolu_2", "name": "get_time", "arguments": "{}"},
    }
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Checking."
    assert [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason] == [
        "tool_calls"
    ]
    assert stream.finish_reason == "tool_use"


def test_stream_finish_closes_a_stream_without_message_stop() -> None:
    """finish() is for a stream that ended normally; whatever closing the client still
    needs comes from it, once."""
    stream, frames = run_stream(TEXT_STREAM[:-2], include_usage=True, end=False)
    assert not stream.finished
    chunks, done = parse_openai(frames + stream.finish())
    assert done
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None


def test_stream_error_event() -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    stream, frames = run_stream(
        [*TEXT_STREAM[:3], ("error", error)], include_usage=False, end=False
    )
    events = EventReader().feed(b"".join(frames))
    body = json.loads(events[-1].data)
    assert body["error"]["message"] == "Overloaded"
    assert body["error"]["code"] == "overloaded_error"
    assert stream.error == "Overloaded"
    assert stream.feed("message_stop", b'{"type": "message_stop"}') == []
    assert stream.finish() == []


def test_stream_ignores_keepalives_and_garbage() -> None:
    stream = T.stream("fast", include_usage=False)
    assert stream.feed("", b"not json") == []
    assert stream.feed("", b"[1, 2]") == []
    assert stream.token_usage() is None


# -- errors -------------------------------------------------------------------------------


def test_error_keeps_status_and_message() -> None:
    body = json.dumps(
        {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    )
    out = json.loads(T.error(429, body.encode()))
    assert out["error"]["message"] == "slow down"
    assert out["error"]["type"] == "rate_limit_error"
    assert out["error"]["code"] == "rate_limit_error"


@pytest.mark.parametrize("body", [b"<html>Bad Gateway</html>", b"", b'{"unexpected": 1}'])
def test_error_from_an_unparsable_body(body: bytes) -> None:
    out = json.loads(T.error(502, body))
    assert out["error"]["type"] == "server_error"
    message = out["error"]["message"]
    assert isinstance(message, str) and message
    if body.strip():
        assert message == body.decode()
