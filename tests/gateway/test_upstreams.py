"""The emulated providers are faithful: the official SDKs, pointed straight at them, parse every
answer, stream and error the way they parse the real APIs'."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import anthropic
import openai
import pytest
from tests.gateway.upstreams import (
    MOCK_TEXT,
    Upstream,
    anthropic_upstream,
    mock_embedding,
)

WEATHER_OPENAI: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
WEATHER_ANTHROPIC: Any = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
HI: Any = [{"role": "user", "content": "hi"}]


@pytest.fixture
def oai_client(oai: Upstream) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=oai.base_url + "/v1", api_key="k", max_retries=0) as client:
        yield client


@pytest.fixture
def ant_client(ant: Upstream) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=ant.base_url, api_key="k", max_retries=0) as client:
        yield client


def raw(
    up: Upstream, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request with no SDK in between: status, lower-cased headers, raw body."""
    parts = urlsplit(up.base_url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        payload = None if body is None else json.dumps(body).encode()
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=payload, headers=all_headers)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


# -- OpenAI ------------------------------------------------------------------------------------


def test_openai_chat_completion(oai: Upstream, oai_client: openai.OpenAI) -> None:
    done = oai_client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert done.id.startswith("chatcmpl-mock")
    assert done.object == "chat.completion"
    assert done.model == "gpt-4o-mini"
    choice = done.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == MOCK_TEXT
    assert choice.finish_reason == "stop"
    usage = done.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (12, 5, 17)
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 4
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 2

    (seen,) = oai.seen
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == "Bearer k"
    assert seen.json == {"model": "gpt-4o-mini", "messages": HI}
    assert json.loads(seen.body) == seen.json


def test_openai_stream_with_usage(oai_client: openai.OpenAI) -> None:
    chunks = list(
        oai_client.chat.completions.create(
            model="gpt-4o-mini",
            messages=HI,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == MOCK_TEXT
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    *body, last = chunks
    assert all(c.usage is None for c in body)
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (12, 5)
    assert last.usage.prompt_tokens_details is not None
    assert last.usage.prompt_tokens_details.cached_tokens == 4


def test_openai_stream_wire_format(oai: Upstream) -> None:
    request = {"model": "m", "messages": HI, "stream": True}
    status, headers, body = raw(
        oai, "POST", "/v1/chat/completions", request, {"Authorization": "Bearer k"}
    )
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    events = body.decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-2]]
    assert all("usage" not in c for c in chunks)  # no include_usage: no usage at all
    assert [c["choices"][0]["delta"].get("content") for c in chunks] == [
        "",
        "Hello",
        " from",
        " mock",
        None,
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_openai_tools(oai_client: openai.OpenAI) -> None:
    done = oai_client.chat.completions.create(
        model="gpt-4o-mini", messages=HI, tools=[WEATHER_OPENAI]
    )
    choice = done.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    (call,) = choice.message.tool_calls
    assert call.type == "function"
    assert call.id.startswith("call_mock")
    assert (call.function.name, call.function.arguments) == ("get_weather", "{}")

    chunks = list(
        oai_client.chat.completions.create(
            model="gpt-4o-mini", messages=HI, tools=[WEATHER_OPENAI], stream=True
        )
    )
    deltas = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].id is not None
    assert deltas[0].function is not None
    assert deltas[0].function.name == "get_weather"
    assert "".join((d.function.arguments or "") if d.function else "" for d in deltas) == "{}"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_openai_embeddings_and_models(oai: Upstream, oai_client: openai.OpenAI) -> None:
    one = oai_client.embeddings.create(model="text-embedding-3-small", input="hello")
    assert oai.seen[-1].json["encoding_format"] == "base64"  # the SDK's default
    assert [d.embedding for d in one.data] == [mock_embedding(0)]
    assert one.model == "text-embedding-3-small"
    assert (one.usage.prompt_tokens, one.usage.total_tokens) == (3, 3)

    two = oai_client.embeddings.create(
        model="text-embedding-3-small", input=["a", "b"], encoding_format="float"
    )
    assert [(d.index, d.embedding) for d in two.data] == [
        (0, mock_embedding(0)),
        (1, mock_embedding(1)),
    ]
    assert len(two.data[0].embedding) == 8

    models = oai_client.models.list()
    assert "gpt-4o-mini" in [m.id for m in models.data]


def test_openai_rate_limit_then_recovery(oai: Upstream, oai_client: openai.OpenAI) -> None:
    oai.fail_next(429, retry_after=7, times=2)
    for _ in range(2):
        with pytest.raises(openai.RateLimitError) as caught:
            oai_client.chat.completions.create(model="gpt-4o-mini", messages=HI)
        assert caught.value.status_code == 429
        assert caught.value.response.headers["retry-after"] == "7"
        assert caught.value.type == "requests"
        assert caught.value.code == "rate_limit_exceeded"
    done = oai_client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert done.choices[0].message.content == MOCK_TEXT
    assert len(oai.seen) == 3


@pytest.mark.parametrize(
    ("status", "exc", "err_type"),
    [
        (400, openai.BadRequestError, "invalid_request_error"),
        (401, openai.AuthenticationError, "invalid_request_error"),
        (404, openai.NotFoundError, "invalid_request_error"),
        (500, openai.InternalServerError, "server_error"),
        (503, openai.InternalServerError, "server_error"),
    ],
)
def test_openai_error_statuses(
    oai: Upstream, oai_client: openai.OpenAI, status: int, exc: type[Exception], err_type: str
) -> None:
    oai.fail_next(status)
    with pytest.raises(exc) as caught:
        oai_client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert isinstance(caught.value, openai.APIStatusError)
    assert caught.value.status_code == status
    assert caught.value.type == err_type
    body = caught.value.response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert "retry-after" not in caught.value.response.headers


def test_openai_requires_bearer_auth(oai: Upstream) -> None:
    status, _, body = raw(oai, "POST", "/v1/chat/completions", {"model": "m", "messages": HI})
    assert status == 401
    error = json.loads(body)["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] is None
    assert "API key" in error["message"]
    assert oai.seen[-1].headers.get("authorization") is None

    status, _, body = raw(oai, "GET", "/v1/nope", headers={"Authorization": "Bearer k"})
    assert status == 404
    assert json.loads(body)["error"]["message"] == "Invalid URL (GET /v1/nope)"


def test_openai_cut_stream(oai: Upstream, oai_client: openai.OpenAI) -> None:
    oai.cut_next_stream(after_events=2)
    got: list[Any] = []
    with pytest.raises(openai.APIConnectionError):
        got.extend(
            oai_client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
        )
    assert [c.choices[0].delta.content for c in got] == ["", "Hello"]
    # Only the next stream was cut.
    chunks = list(oai_client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True))
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_openai_error_inside_stream(oai: Upstream, oai_client: openai.OpenAI) -> None:
    oai.error_next_stream(after_events=1, status=500)
    with pytest.raises(openai.APIError, match="The server had an error"):
        list(oai_client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True))


def test_first_byte_delay_hits_the_client_timeout(oai: Upstream) -> None:
    oai.first_byte_delay = 30.0  # far beyond the client's timeout; stop() must not wait for it
    with (
        openai.OpenAI(
            base_url=oai.base_url + "/v1", api_key="k", max_retries=0, timeout=0.2
        ) as client,
        pytest.raises(openai.APITimeoutError),
    ):
        client.chat.completions.create(model="gpt-4o-mini", messages=HI)


# -- Anthropic ---------------------------------------------------------------------------------


def test_anthropic_message(ant: Upstream, ant_client: anthropic.Anthropic) -> None:
    msg = ant_client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=HI)
    assert msg.id.startswith("msg_mock")
    assert (msg.type, msg.role, msg.model) == ("message", "assistant", "claude-haiku-4-5")
    assert len(msg.content) == 1
    block = msg.content[0]
    assert isinstance(block, anthropic.types.TextBlock)
    assert block.text == MOCK_TEXT
    assert (msg.stop_reason, msg.stop_sequence) == ("end_turn", None)
    usage = msg.usage
    assert (usage.input_tokens, usage.output_tokens) == (10, 5)
    assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (3, 20)
    assert usage.cache_creation is not None
    assert usage.cache_creation.ephemeral_5m_input_tokens == 1
    assert usage.cache_creation.ephemeral_1h_input_tokens == 2

    (seen,) = ant.seen
    assert seen.path == "/v1/messages"
    assert seen.headers["authorization"] == "Bearer k"  # anthropic>=2 sends the key as a bearer
    assert seen.headers["anthropic-version"]
    assert seen.json["max_tokens"] == 64


def test_anthropic_stream(ant_client: anthropic.Anthropic) -> None:
    with ant_client.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=HI) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == MOCK_TEXT
    assert final.usage.input_tokens == 10
    assert final.usage.output_tokens == 5
    assert final.usage.cache_creation_input_tokens == 3
    assert final.usage.cache_read_input_tokens == 20
    assert final.stop_reason == "end_turn"
    block = final.content[0]
    assert isinstance(block, anthropic.types.TextBlock)
    assert block.text == MOCK_TEXT


def test_anthropic_stream_wire_format(ant: Upstream) -> None:
    request = {"model": "c", "max_tokens": 8, "messages": HI, "stream": True}
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    status, resp_headers, body = raw(ant, "POST", "/v1/messages", request, headers)
    assert status == 200
    assert resp_headers["content-type"].startswith("text/event-stream")
    events = body.decode().split("\n\n")
    assert events[-1] == ""
    names = []
    for event in events[:-1]:
        name_line, data_line = event.split("\n")
        name = name_line.removeprefix("event: ")
        assert json.loads(data_line.removeprefix("data: "))["type"] == name
        names.append(name)
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = json.loads(events[0].split("data: ", 1)[1])
    assert start["message"]["usage"]["output_tokens"] == 1
    delta = json.loads(events[7].split("data: ", 1)[1])
    assert delta["usage"] == {"output_tokens": 5}


def test_anthropic_tools(ant_client: anthropic.Anthropic) -> None:
    msg = ant_client.messages.create(
        model="claude-haiku-4-5", max_tokens=64, messages=HI, tools=[WEATHER_ANTHROPIC]
    )
    assert msg.stop_reason == "tool_use"
    (block,) = msg.content
    assert isinstance(block, anthropic.types.ToolUseBlock)
    assert block.id.startswith("toolu_mock")
    assert (block.name, block.input) == ("get_weather", {})

    with ant_client.messages.stream(
        model="claude-haiku-4-5", max_tokens=64, messages=HI, tools=[WEATHER_ANTHROPIC]
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    (block,) = final.content
    assert isinstance(block, anthropic.types.ToolUseBlock)
    assert (block.name, block.input) == ("get_weather", {})


def test_anthropic_overloaded_and_rate_limited(
    ant: Upstream, ant_client: anthropic.Anthropic
) -> None:
    ant.fail_next(529)
    ant.fail_next(429, retry_after=1.5)
    with pytest.raises(anthropic.InternalServerError) as overloaded:
        ant_client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=HI)
    assert isinstance(overloaded.value, anthropic.OverloadedError)
    assert overloaded.value.status_code == 529
    body = overloaded.value.response.json()
    assert body["type"] == "error"
    assert body["error"] == {"type": "overloaded_error", "message": "Overloaded"}

    with pytest.raises(anthropic.RateLimitError) as limited:
        ant_client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=HI)
    assert limited.value.response.headers["retry-after"] == "1.5"
    assert limited.value.response.json()["error"]["type"] == "rate_limit_error"

    msg = ant_client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=HI)
    assert msg.usage.output_tokens == 5


@pytest.mark.parametrize(
    ("status", "exc", "err_type"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (404, anthropic.NotFoundError, "not_found_error"),
        (500, anthropic.InternalServerError, "api_error"),
    ],
)
def test_anthropic_error_statuses(
    ant: Upstream,
    ant_client: anthropic.Anthropic,
    status: int,
    exc: type[Exception],
    err_type: str,
) -> None:
    ant.fail_next(status)
    with pytest.raises(exc) as caught:
        ant_client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=HI)
    assert isinstance(caught.value, anthropic.APIStatusError)
    assert caught.value.status_code == status
    assert caught.value.response.json()["error"]["type"] == err_type


def test_anthropic_requires_key_and_version(ant: Upstream) -> None:
    request = {"model": "c", "max_tokens": 8, "messages": HI}
    status, _, body = raw(ant, "POST", "/v1/messages", request, {"anthropic-version": "2023-06-01"})
    assert status == 401
    assert json.loads(body)["error"]["type"] == "authentication_error"
    status, _, body = raw(ant, "POST", "/v1/messages", request, {"x-api-key": "k"})
    assert status == 400
    assert json.loads(body)["error"] == {
        "type": "invalid_request_error",
        "message": "anthropic-version: header is required",
    }
    # The key may come as x-api-key (older SDKs, curl) or as a bearer token (anthropic>=2).
    both = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    status, headers, body = raw(ant, "POST", "/v1/messages", request, both)
    assert status == 200
    assert headers["request-id"].startswith("req_")
    assert json.loads(body)["content"] == [{"type": "text", "text": MOCK_TEXT}]


def test_anthropic_cut_stream(ant: Upstream, ant_client: anthropic.Anthropic) -> None:
    ant.cut_next_stream(after_events=3)
    seen_types: list[str] = []
    with (
        # The SDK lets the transport's error through (httpx2.RemoteProtocolError in anthropic>=2).
        pytest.raises(Exception, match="incomplete chunked read") as caught,
        ant_client.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=HI) as stream,
    ):
        for event in stream:
            seen_types.append(event.type)
    assert type(caught.value).__name__ in {"RemoteProtocolError", "APIConnectionError"}
    assert seen_types == ["message_start", "content_block_start"]  # ping is swallowed


def test_anthropic_error_inside_stream(ant: Upstream, ant_client: anthropic.Anthropic) -> None:
    ant.error_next_stream(after_events=2)
    with (
        pytest.raises(anthropic.APIStatusError, match="overloaded_error"),
        ant_client.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=HI) as stream,
    ):
        stream.get_final_message()


def test_stop_is_idempotent_and_start_twice_fails() -> None:
    up = anthropic_upstream().start()
    try:
        with pytest.raises(RuntimeError):
            up.start()
    finally:
        up.stop()
    up.stop()
    with pytest.raises(RuntimeError):
        _ = up.base_url
