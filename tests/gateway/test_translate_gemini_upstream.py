"""The Gemini emulator speaks Gemini's wire format: paths with the model and method, the
x-goog-api-key header, SSE framed with CRLF and no end marker, Google's error shape, the
scripted failures every emulator has."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from tests.gateway.gemini_upstream import (
    GEMINI_MODELS,
    GEMINI_STREAM_PROMPT_USAGE,
    GEMINI_USAGE,
    gemini_upstream,
)
from tests.gateway.upstreams import MOCK_CHUNKS, MOCK_TEXT, Upstream

KEY = {"x-goog-api-key": "k"}
HI: Any = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
MODEL = GEMINI_MODELS[0][0]
GENERATE = f"/v1beta/models/{MODEL}:generateContent"
STREAM = f"/v1beta/models/{MODEL}:streamGenerateContent"
WEATHER: Any = {
    "functionDeclarations": [
        {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
}


@pytest.fixture
def gem() -> Iterator[Upstream]:
    with gemini_upstream() as up:
        yield up


def post(
    up: Upstream, path: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request with no SDK in between: status, lower-cased headers, raw body."""
    parts = urlsplit(up.base_url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        all_headers = {"Content-Type": "application/json", **KEY, **(headers or {})}
        conn.request(
            "POST" if body is not None else "GET",
            path,
            json.dumps(body).encode() if body is not None else None,
            all_headers,
        )
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def sse_chunks(body: bytes) -> list[dict[str, Any]]:
    events = body.split(b"\r\n\r\n")
    assert events[-1] == b""  # every event ends with a blank line
    chunks = []
    for event in events[:-1]:
        assert event.startswith(b"data: ") and b"\n" not in event
        chunks.append(json.loads(event[len(b"data: ") :]))
    return chunks


def test_generate_content(gem: Upstream) -> None:
    status, headers, body = post(gem, GENERATE, HI)
    assert status == 200
    assert headers["content-type"].startswith("application/json")
    answer = json.loads(body)
    (candidate,) = answer["candidates"]
    assert candidate["content"] == {"parts": [{"text": MOCK_TEXT}], "role": "model"}
    assert candidate["finishReason"] == "STOP"
    assert answer["usageMetadata"] == GEMINI_USAGE
    assert answer["modelVersion"] == MODEL
    assert answer["responseId"]
    (seen,) = gem.seen
    assert (seen.path, seen.headers["x-goog-api-key"], seen.json) == (GENERATE, "k", HI)


def test_stream_generate_content_sse(gem: Upstream) -> None:
    status, headers, body = post(gem, STREAM + "?alt=sse", HI)
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    assert b"[DONE]" not in body
    chunks = sse_chunks(body)
    assert len(chunks) == len(MOCK_CHUNKS)
    texts = [c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks]
    assert "".join(texts) == MOCK_TEXT
    assert [c["candidates"][0].get("finishReason") for c in chunks][-1] == "STOP"
    assert all("finishReason" not in c["candidates"][0] for c in chunks[:-1])
    assert [c["usageMetadata"] for c in chunks] == [GEMINI_STREAM_PROMPT_USAGE] * (
        len(chunks) - 1
    ) + [GEMINI_USAGE]
    assert len({c["responseId"] for c in chunks}) == 1
    assert gem.seen[0].query == "alt=sse"


def test_stream_generate_content_without_sse_is_a_json_array(gem: Upstream) -> None:
    status, _, body = post(gem, STREAM, HI)
    assert status == 200
    chunks = json.loads(body)
    assert isinstance(chunks, list) and len(chunks) == len(MOCK_CHUNKS)


def test_function_call_then_text_after_the_response(gem: Upstream) -> None:
    status, _, body = post(gem, GENERATE, {**HI, "tools": [WEATHER]})
    assert status == 200
    parts = json.loads(body)["candidates"][0]["content"]["parts"]
    assert parts == [{"functionCall": {"name": "get_weather", "args": {}}}]
    follow_up = {
        "contents": [
            *HI["contents"],
            {"role": "model", "parts": parts},
            {
                "role": "user",
                "parts": [{"functionResponse": {"name": "get_weather", "response": {"r": 1}}}],
            },
        ],
        "tools": [WEATHER],
    }
    status, _, body = post(gem, GENERATE, follow_up)
    assert status == 200
    assert json.loads(body)["candidates"][0]["content"]["parts"] == [{"text": MOCK_TEXT}]


def test_key_required(gem: Upstream) -> None:
    status, _, body = post(gem, GENERATE, HI, {"x-goog-api-key": ""})
    assert status == 403
    assert json.loads(body)["error"]["status"] == "PERMISSION_DENIED"
    status, _, _ = post(gem, GENERATE + "?key=k", HI, {"x-goog-api-key": ""})
    assert status == 200


def test_fail_next_with_retry_after(gem: Upstream) -> None:
    gem.fail_next(429, retry_after=7)
    status, headers, body = post(gem, GENERATE, HI)
    assert status == 429
    assert headers["retry-after"] == "7"
    error = json.loads(body)["error"]
    assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert error["message"]
    assert error["details"][0]["retryDelay"] == "7s"
    assert post(gem, GENERATE, HI)[0] == 200  # consumed by one request


def test_unknown_model(gem: Upstream) -> None:
    status, _, body = post(gem, "/v1beta/models/gemini-0:generateContent", HI)
    assert status == 404
    error = json.loads(body)["error"]
    assert error["status"] == "NOT_FOUND"
    assert "models/gemini-0 is not found" in error["message"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({**HI, "model": MODEL}, 'Unknown name "model"'),
        ({**HI, "generationConfig": {"max_tokens": 5}}, 'Unknown name "max_tokens"'),
        ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "valid role"),
        ({"contents": [{"role": "user", "parts": []}]}, "must not be empty"),
        ({"contents": []}, "contents is not specified"),
        (
            {
                **HI,
                "tools": [
                    {
                        "functionDeclarations": [
                            {"name": "f", "parameters": {"type": "object", "properties": {}}}
                        ]
                    }
                ],
            },
            "should be non-empty for OBJECT type",
        ),
        (
            {
                **HI,
                "tools": [
                    {
                        "functionDeclarations": [
                            {
                                "name": "f",
                                "parameters": {
                                    "type": "object",
                                    "properties": {"a": {"type": "string"}},
                                    "additionalProperties": False,
                                },
                            }
                        ]
                    }
                ],
            },
            'Unknown name "additionalProperties"',
        ),
    ],
)
def test_invalid_requests_are_refused_as_gemini_does(gem: Upstream, body: Any, needle: str) -> None:
    status, _, raw = post(gem, GENERATE, body)
    assert status == 400
    error = json.loads(raw)["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert needle in error["message"]


def test_cut_stream(gem: Upstream) -> None:
    gem.cut_next_stream(1)
    with pytest.raises(http.client.IncompleteRead) as info:
        post(gem, STREAM + "?alt=sse", HI)
    assert (
        sse_chunks(info.value.partial)[0]["candidates"][0]["content"]["parts"][0]["text"]
        == (MOCK_CHUNKS[0])
    )


def test_error_in_stream(gem: Upstream) -> None:
    gem.error_next_stream(1, 503)
    status, _, body = post(gem, STREAM + "?alt=sse", HI)
    assert status == 200
    first, error = sse_chunks(body)
    assert "candidates" in first
    assert error["error"]["status"] == "UNAVAILABLE"


def test_models(gem: Upstream) -> None:
    status, _, body = post(gem, "/v1beta/models", None)
    assert status == 200
    names = [m["name"] for m in json.loads(body)["models"]]
    assert names == [f"models/{model}" for model, _ in GEMINI_MODELS]
