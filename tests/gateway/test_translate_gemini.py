"""OpenAI and Anthropic clients -> Gemini deployment: requests (schemas included), answers,
streams, errors, usage, each answer shape checked against the official SDKs' own types."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.types import Message, RawMessageStreamEvent
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import TypeAdapter

from tokenomy.gateway.sse import EventReader
from tokenomy.gateway.translate import TranslationError, gemini_usage, translator
from tokenomy.gateway.translate.gemini_schema import gemini_schema
from tokenomy.record import TokenUsage

OAI = translator("openai", "gemini")
ANT = translator("anthropic", "gemini")
assert OAI is not None and ANT is not None
EVENT = TypeAdapter(RawMessageStreamEvent)
PNG = "iVBORw0KGgo="
HI = {"role": "user", "content": "hi"}
HI_GEMINI = {"role": "user", "parts": [{"text": "hi"}]}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
WEATHER_GEMINI = {
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
USAGE = {
    "promptTokenCount": 11,
    "cachedContentTokenCount": 3,
    "candidatesTokenCount": 5,
    "thoughtsTokenCount": 2,
    "totalTokenCount": 18,
}


def call(ident: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": ident, "type": "function", "function": {"name": name, "arguments": arguments}}


# -- usage --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            USAGE,
            TokenUsage(input_tokens=8, cache_read_tokens=3, output_tokens=7, reasoning_tokens=2),
        ),
        (
            {"promptTokenCount": 4, "candidatesTokenCount": 1},
            TokenUsage(input_tokens=4, output_tokens=1),
        ),
        ({"promptTokenCount": 4, "toolUsePromptTokenCount": 6}, TokenUsage(input_tokens=10)),
        ({"promptTokenCount": 2, "cachedContentTokenCount": 9}, TokenUsage(cache_read_tokens=2)),
        ({}, TokenUsage()),
    ],
)
def test_gemini_usage(raw: dict[str, Any], expected: TokenUsage) -> None:
    assert gemini_usage(raw) == expected


def test_gemini_usage_total_matches_gemini_total() -> None:
    assert gemini_usage(USAGE).total == USAGE["totalTokenCount"]


# -- schemas ------------------------------------------------------------------------------


SCHEMAS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "rejected keys go, kept ones stay",
        {
            "type": "object",
            "title": "Args",
            "properties": {
                "n": {"type": "integer", "minimum": 1, "examples": [2], "exclusiveMaximum": 9}
            },
            "required": ["n", "ghost"],
            "additionalProperties": False,
            "$schema": "x",
        },
        {
            "type": "object",
            "title": "Args",
            "properties": {"n": {"type": "integer", "minimum": 1}},
            "required": ["n"],
        },
    ),
    (
        "$ref inlined from $defs, sibling description wins",
        {
            "type": "object",
            "properties": {"where": {"$ref": "#/$defs/Place", "description": "the place"}},
            "$defs": {
                "Place": {
                    "type": "object",
                    "description": "a place",
                    "properties": {"city": {"type": "string"}},
                }
            },
        },
        {
            "type": "object",
            "properties": {
                "where": {
                    "type": "object",
                    "description": "the place",
                    "properties": {"city": {"type": "string"}},
                }
            },
        },
    ),
    (
        "nullable forms",
        {
            "type": "object",
            "properties": {
                "a": {"type": ["string", "null"]},
                "b": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                "c": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
            },
        },
        {
            "type": "object",
            "properties": {
                "a": {"type": "string", "nullable": True},
                "b": {"type": "integer", "nullable": True},
                "c": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            },
        },
    ),
    (
        "const and enums: only strings",
        {
            "type": "object",
            "properties": {
                "k": {"const": "fixed"},
                "e": {"type": "string", "enum": ["a", "b"]},
                "n": {"type": "integer", "enum": [1, 2]},
            },
        },
        {
            "type": "object",
            "properties": {
                "k": {"type": "string", "enum": ["fixed"]},
                "e": {"type": "string", "enum": ["a", "b"]},
                "n": {"type": "integer"},
            },
        },
    ),
    (
        "formats Gemini knows are kept, others dropped",
        {
            "type": "object",
            "properties": {
                "when": {"type": "string", "format": "date-time"},
                "url": {"type": "string", "format": "uri"},
                "big": {"type": "integer", "format": "int64"},
            },
        },
        {
            "type": "object",
            "properties": {
                "when": {"type": "string", "format": "date-time"},
                "url": {"type": "string"},
                "big": {"type": "integer", "format": "int64"},
            },
        },
    ),
    (
        "arrays and allOf",
        {
            "type": "array",
            "items": {"allOf": [{"type": "object", "properties": {"x": {"type": "number"}}}]},
        },
        {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "number"}}}},
    ),
]


@pytest.mark.parametrize(
    ("schema", "expected"), [c[1:] for c in SCHEMAS], ids=[c[0] for c in SCHEMAS]
)
def test_schema(schema: dict[str, Any], expected: dict[str, Any]) -> None:
    assert gemini_schema(schema, "p") == expected


def test_recursive_schema_is_refused() -> None:
    schema = {
        "$ref": "#/$defs/Node",
        "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
    }
    with pytest.raises(TranslationError, match="recursive"):
        gemini_schema(schema, "tools[0]")


# -- requests: OpenAI client --------------------------------------------------------------

REQUESTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("the minimum", {"messages": [HI]}, {"contents": [HI_GEMINI]}),
    (
        "system and developer messages -> systemInstruction",
        {
            "messages": [
                {"role": "system", "content": "a"},
                {"role": "developer", "content": [{"type": "text", "text": "b"}]},
                HI,
            ]
        },
        {"systemInstruction": {"parts": [{"text": "a"}, {"text": "b"}]}, "contents": [HI_GEMINI]},
    ),
    (
        "generation settings",
        {
            "messages": [HI],
            "max_completion_tokens": 50,
            "max_tokens": 9,
            "temperature": 1.5,
            "top_p": 0.5,
            "stop": "END",
            "seed": 7,
            "presence_penalty": 0.1,
            "frequency_penalty": 0.2,
        },
        {
            "generationConfig": {
                "maxOutputTokens": 50,
                "temperature": 1.5,
                "topP": 0.5,
                "stopSequences": ["END"],
                "seed": 7,
                "presencePenalty": 0.1,
                "frequencyPenalty": 0.2,
            }
        },
    ),
    (
        "stop list",
        {"messages": [HI], "stop": ["a", "b"]},
        {"generationConfig": {"stopSequences": ["a", "b"]}},
    ),
    (
        "json mode",
        {"messages": [HI], "response_format": {"type": "json_object"}},
        {"generationConfig": {"responseMimeType": "application/json"}},
    ),
    (
        "json schema",
        {
            "messages": [HI],
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "r",
                    "schema": {
                        "type": "object",
                        "properties": {"a": {"type": "string"}},
                        "additionalProperties": False,
                    },
                },
            },
        },
        {
            "generationConfig": {
                "responseMimeType": "application/json",
                "responseSchema": {"type": "object", "properties": {"a": {"type": "string"}}},
            }
        },
    ),
    (
        "images, audio and files",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what?"},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                        {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}},
                        {"type": "image_url", "image_url": {"url": "https://x.test/image"}},
                        {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}},
                        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE"}},
                    ],
                }
            ]
        },
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {"text": "what?"},
                        {"inlineData": {"mimeType": "image/png", "data": PNG}},
                        {"fileData": {"fileUri": "https://x.test/a.jpg", "mimeType": "image/jpeg"}},
                        {"fileData": {"fileUri": "https://x.test/image"}},
                        {"inlineData": {"mimeType": "audio/wav", "data": "UklG"}},
                        {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}},
                    ],
                }
            ]
        },
    ),
    (
        "tools: schema cleaned, tool_choice required -> ANY",
        {"messages": [HI], "tools": [WEATHER], "tool_choice": "required"},
        {
            "tools": [{"functionDeclarations": [WEATHER_GEMINI]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        },
    ),
    (
        "tool_choice none / auto / a function",
        {
            "messages": [HI],
            "tools": [WEATHER],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        },
        {
            "toolConfig": {
                "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
            }
        },
    ),
    (
        "a function without arguments has no parameters",
        {
            "messages": [HI],
            "tools": [
                {
                    "type": "function",
                    "function": {"name": "now", "parameters": {"type": "object", "properties": {}}},
                }
            ],
        },
        {"tools": [{"functionDeclarations": [{"name": "now"}]}]},
    ),
    (
        "parallel calls and their results: responses matched by name, merged into one turn",
        {
            "messages": [
                HI,
                {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_calls": [
                        call("c1", "get_weather", '{"city":"Paris"}'),
                        call("c2", "get_time", ""),
                    ],
                },
                {"role": "tool", "tool_call_id": "c2", "content": "noon"},
                {"role": "tool", "tool_call_id": "c1", "content": '{"sky": "clear"}'},
                {"role": "user", "content": "thanks"},
                {"role": "assistant", "content": "welcome"},
            ]
        },
        {
            "contents": [
                HI_GEMINI,
                {
                    "role": "model",
                    "parts": [
                        {"text": "Checking."},
                        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                        {"functionCall": {"name": "get_time", "args": {}}},
                    ],
                },
                {
                    "role": "user",
                    "parts": [
                        {"functionResponse": {"name": "get_time", "response": {"result": "noon"}}},
                        {"functionResponse": {"name": "get_weather", "response": {"sky": "clear"}}},
                        {"text": "thanks"},
                    ],
                },
                {"role": "model", "parts": [{"text": "welcome"}]},
            ]
        },
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"), [c[1:] for c in REQUESTS], ids=[c[0] for c in REQUESTS]
)
def test_request(body: dict[str, Any], expected: dict[str, Any]) -> None:
    out = OAI.request({"model": "alias", **body}, "gemini-x", stream=False)
    assert "model" not in out  # the model goes in the URL
    if "contents" in expected and len(expected) == 1:
        assert out == expected  # the whole body: nothing else leaked through
    for key, value in expected.items():
        assert out[key] == value, key


def test_tool_choice_modes() -> None:
    for choice, mode in [("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")]:
        out = OAI.request(
            {"messages": [HI], "tools": [WEATHER], "tool_choice": choice}, "g", stream=False
        )
        assert out["toolConfig"] == {"functionCallingConfig": {"mode": mode}}


REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("n > 1", {"messages": [HI], "n": 2}, "n=2"),
    ("audio output", {"messages": [HI], "audio": {"voice": "x"}}, "audio"),
    ("only a system message", {"messages": [{"role": "system", "content": "x"}]}, "at least one"),
    (
        "a tool result for a call never made",
        {"messages": [HI, {"role": "tool", "tool_call_id": "ghost", "content": "x"}]},
        "'ghost'",
    ),
    (
        "an image in a system message",
        {
            "messages": [
                {"role": "system", "content": [{"type": "image_url", "image_url": {"url": "u"}}]},
                HI,
            ]
        },
        "messages[0].content[0]",
    ),
    (
        "a file by id",
        {"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "f"}}]}]},
        "file_data",
    ),
]


@pytest.mark.parametrize(("body", "needle"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_request_refused(body: dict[str, Any], needle: str) -> None:
    with pytest.raises(TranslationError) as info:
        OAI.request(body, "g", stream=False)
    assert needle in str(info.value)


# -- requests: Anthropic client (through the OpenAI shape) --------------------------------


def test_anthropic_request() -> None:
    body = {
        "model": "alias",
        "max_tokens": 64,
        "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
        "top_k": 5,
        "stop_sequences": ["END"],
        "tools": [{"name": "get_weather", "input_schema": WEATHER["function"]["parameters"]}],
        "tool_choice": {"type": "tool", "name": "get_weather"},
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                    }
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}],
            },
        ],
    }
    out = ANT.request(body, "gemini-x", stream=True)
    assert out == {
        "systemInstruction": {"parts": [{"text": "be brief"}]},
        "contents": [
            {"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": PNG}}]},
            {
                "role": "model",
                "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}}
                ],
            },
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {k: v for k, v in WEATHER_GEMINI.items() if k != "description"}
                ]
            }
        ],
        "toolConfig": {
            "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
        },
        "generationConfig": {"maxOutputTokens": 64, "stopSequences": ["END"], "topK": 5},
    }


# -- responses ----------------------------------------------------------------------------


def gemini_response(
    parts: list[dict[str, Any]], finish: str | None = "STOP", **extra: Any
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {
        "candidates": [candidate],
        "usageMetadata": USAGE,
        "modelVersion": "gemini-2.5-flash",
        "responseId": "r1",
        **extra,
    }


def test_openai_response_text_and_usage() -> None:
    parts = [{"text": "thinking...", "thought": True}, {"text": "Hel"}, {"text": "lo"}]
    done = ChatCompletion.model_validate(OAI.response(gemini_response(parts), "fast"))
    assert done.model == "fast"
    assert done.choices[0].message.content == "Hello"  # thought summaries left out
    assert done.choices[0].finish_reason == "stop"
    usage = done.usage
    assert usage is not None
    # OpenAI's prompt_tokens include cached ones, as Gemini's do; completion includes thinking.
    assert usage.prompt_tokens == USAGE["promptTokenCount"]
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == USAGE["cachedContentTokenCount"]
    assert usage.completion_tokens == USAGE["candidatesTokenCount"] + USAGE["thoughtsTokenCount"]
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == USAGE["thoughtsTokenCount"]
    assert usage.total_tokens == USAGE["totalTokenCount"]


def test_openai_response_parallel_calls_get_stable_unique_ids() -> None:
    parts = [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
        {"functionCall": {"name": "get_time"}},
    ]
    body = gemini_response(parts)
    first = ChatCompletion.model_validate(OAI.response(body, "a"))
    again = ChatCompletion.model_validate(OAI.response(body, "a"))
    other = ChatCompletion.model_validate(OAI.response({**body, "responseId": "r2"}, "a"))
    calls = first.choices[0].message.tool_calls
    assert calls is not None
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {}),
    ]
    ids = [c.id for c in calls]
    assert len(set(ids)) == 2
    assert ids == [c.id for c in again.choices[0].message.tool_calls or []]
    assert not set(ids) & {c.id for c in other.choices[0].message.tool_calls or []}
    assert first.choices[0].finish_reason == "tool_calls"  # Gemini says STOP


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "stop"),
        ("OTHER", "stop"),
    ],
)
def test_finish_reasons(reason: str, expected: str) -> None:
    done = ChatCompletion.model_validate(
        OAI.response(gemini_response([{"text": "x"}], reason), "a")
    )
    assert done.choices[0].finish_reason == expected


def test_blocked_prompt() -> None:
    body = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 4}}
    done = ChatCompletion.model_validate(OAI.response(body, "a"))
    assert done.choices[0].finish_reason == "content_filter"
    assert done.choices[0].message.content is None


def test_anthropic_response() -> None:
    parts = [
        {"text": "Checking."},
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
    ]
    message = Message.model_validate(ANT.response(gemini_response(parts), "claude-alias"))
    assert message.model == "claude-alias"
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.content[1].input == {"city": "Paris"}  # type: ignore[union-attr]
    assert message.stop_reason == "tool_use"
    cached = USAGE["cachedContentTokenCount"]
    assert message.usage.input_tokens == USAGE["promptTokenCount"] - cached
    assert message.usage.cache_read_input_tokens == cached
    # Anthropic's output_tokens include thinking, as Gemini bills it.
    assert (
        message.usage.output_tokens == USAGE["candidatesTokenCount"] + USAGE["thoughtsTokenCount"]
    )


# -- streams ------------------------------------------------------------------------------

PARTIAL_USAGE = {"promptTokenCount": 11, "totalTokenCount": 11}


def gemini_chunks(
    pieces: list[list[dict[str, Any]]], finish: str = "STOP", usage_after: bool = False
) -> list[dict[str, Any]]:
    chunks = []
    for i, parts in enumerate(pieces):
        last = i == len(pieces) - 1
        chunk = gemini_response(parts, finish if last else None)
        chunk["usageMetadata"] = USAGE if last and not usage_after else PARTIAL_USAGE
        chunks.append(chunk)
    if usage_after:
        chunks.append(
            {"usageMetadata": USAGE, "modelVersion": "gemini-2.5-flash", "responseId": "r1"}
        )
    return chunks


def feed_all(stream: Any, chunks: list[dict[str, Any]]) -> list[bytes]:
    out: list[bytes] = []
    for c in chunks:
        out += stream.feed("", json.dumps(c).encode())
    return out


def openai_chunks(frames: list[bytes]) -> list[ChatCompletionChunk]:
    events = EventReader().feed(b"".join(frames))
    assert events[-1].data == b"[DONE]"
    return [ChatCompletionChunk.model_validate(json.loads(e.data)) for e in events[:-1]]


@pytest.mark.parametrize("usage_after", [False, True])
def test_openai_stream_text(usage_after: bool) -> None:
    stream = OAI.stream("fast", include_usage=True)
    frames = feed_all(
        stream, gemini_chunks([[{"text": "Hel"}], [{"text": "lo"}]], usage_after=usage_after)
    )
    assert stream.finished
    chunks = openai_chunks(frames + stream.finish())
    assert chunks[0].choices[0].delta.role == "assistant"
    assert {c.model for c in chunks} == {"fast"}
    assert len({c.id for c in chunks}) == 1
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    assert [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ] == ["stop"]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert (
        last.usage.completion_tokens == USAGE["candidatesTokenCount"] + USAGE["thoughtsTokenCount"]
    )
    # Provider side, for recording: the last usageMetadata wins.
    assert stream.token_usage() == gemini_usage(USAGE)
    assert stream.finish_reason == "STOP"
    assert stream.model == "gemini-2.5-flash"


def test_openai_stream_without_usage() -> None:
    stream = OAI.stream("fast", include_usage=False)
    frames = feed_all(stream, gemini_chunks([[{"text": "x"}]])) + stream.finish()
    chunks = openai_chunks(frames)
    assert all(c.choices and c.usage is None for c in chunks)


def test_openai_stream_parallel_calls() -> None:
    stream = OAI.stream("fast", include_usage=False)
    parts = [
        [{"text": "Checking."}],
        [
            {"functionCall": {"name": "a", "args": {"x": 1}}},
            {"functionCall": {"name": "b", "args": {}}},
        ],
    ]
    chunks = openai_chunks(feed_all(stream, gemini_chunks(parts)) + stream.finish())
    calls: dict[int, dict[str, str]] = {}
    for c in chunks:
        for tc in c.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
            if tc.id:
                assert tc.function is not None and tc.function.arguments == ""
                entry["id"], entry["name"] = tc.id, tc.function.name or ""
            else:
                assert tc.function is not None
                entry["arguments"] += tc.function.arguments or ""
    assert [(v["name"], json.loads(v["arguments"])) for _, v in sorted(calls.items())] == [
        ("a", {"x": 1}),
        ("b", {}),
    ]
    non_stream = OAI.response(gemini_response(parts[1]), "fast")["choices"][0]["message"][
        "tool_calls"
    ]
    assert [v["id"] for _, v in sorted(calls.items())] == [
        c["id"] for c in non_stream
    ]  # same ids either way
    assert [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason] == [
        "tool_calls"
    ]


def test_openai_stream_error_chunk() -> None:
    stream = OAI.stream("fast", include_usage=False)
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    frames = feed_all(stream, [error])
    body = json.loads(EventReader().feed(b"".join(frames))[-1].data)
    assert body["error"]["message"] == "The model is overloaded."
    assert body["error"]["code"] == "UNAVAILABLE"
    assert stream.error == "The model is overloaded."
    assert not stream.finished
    assert stream.finish() == []


def test_openai_stream_cut_before_finish_reason() -> None:
    stream = OAI.stream("fast", include_usage=True)
    feed_all(stream, gemini_chunks([[{"text": "a"}], [{"text": "b"}]])[:1])
    assert not stream.finished  # the gateway reports a cut stream instead of finish()
    assert stream.token_usage() == gemini_usage(PARTIAL_USAGE)


def test_anthropic_stream() -> None:
    stream = ANT.stream("claude-alias", include_usage=False)
    parts = [
        [{"text": "Hel"}],
        [{"text": "lo"}],
        [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}],
    ]
    frames = feed_all(stream, gemini_chunks(parts, usage_after=True))
    assert stream.finished
    frames += stream.finish()
    assert stream.finish() == []
    events = []
    for e in EventReader().feed(b"".join(frames)):
        value = EVENT.validate_python(json.loads(e.data))
        assert e.name == value.type
        events.append(value)
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert events[0].message.model == "claude-alias"
    text = "".join(
        e.delta.text
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert text == "Hello"
    args = "".join(
        e.delta.partial_json
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    )
    assert json.loads(args) == {"city": "Paris"}
    starts = [e.content_block.type for e in events if e.type == "content_block_start"]
    assert starts == ["text", "tool_use"]
    assert kinds.count("content_block_stop") == 2
    delta = events[-2]
    assert delta.delta.stop_reason == "tool_use"
    assert delta.usage.input_tokens == USAGE["promptTokenCount"] - USAGE["cachedContentTokenCount"]
    assert delta.usage.output_tokens == USAGE["candidatesTokenCount"] + USAGE["thoughtsTokenCount"]
    # Provider side: Gemini's own facts, not the OpenAI middle step's.
    assert stream.token_usage() == gemini_usage(USAGE)
    assert stream.finish_reason == "STOP"
    assert stream.model == "gemini-2.5-flash"


def test_anthropic_stream_error() -> None:
    stream = ANT.stream("a", include_usage=False)
    error = {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}
    unfinished = gemini_chunks([[{"text": "x"}], [{"text": "y"}]])[0]
    frames = feed_all(stream, [unfinished, error])
    assert stream.finish() == []
    last = EventReader().feed(b"".join(frames))[-1]
    assert last.name == "error"
    assert json.loads(last.data) == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "quota"},
    }
    assert stream.error == "quota"


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("wrapped", [False, True])
def test_errors(wrapped: bool) -> None:
    error: Any = {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted",
            "status": "RESOURCE_EXHAUSTED",
        }
    }
    body = json.dumps([error] if wrapped else error).encode()
    openai_error = json.loads(OAI.error(429, body))["error"]
    assert (openai_error["message"], openai_error["type"], openai_error["code"]) == (
        "Resource has been exhausted",
        "rate_limit_error",
        "RESOURCE_EXHAUSTED",
    )
    anthropic_error = json.loads(ANT.error(429, body))
    assert anthropic_error == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "Resource has been exhausted"},
    }


def test_error_from_an_unparsable_body() -> None:
    assert json.loads(OAI.error(500, b"oops"))["error"]["message"] == "oops"
    assert json.loads(ANT.error(500, b"oops"))["error"]["message"] == "oops"


# -- pairs --------------------------------------------------------------------------------


def test_translator_pairs() -> None:
    for protocol in ("openai", "anthropic", "gemini"):
        assert translator(protocol, protocol) is None  # type: ignore[arg-type]
    with pytest.raises(TranslationError, match="gemini clients"):
        translator("gemini", "openai")
