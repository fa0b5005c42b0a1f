"""End to end at the translation level: the official ``openai`` and ``anthropic`` SDKs talk to
emulated providers of the other protocols over real HTTP, through a gateway in miniature
that does with a translator what the gateway does (translate the request, post it, translate
the answer, the stream event by event, or the error). So every shape the translators make
is parsed by the SDKs' own code, stream helpers and exceptions included, and every request
they make is accepted by an emulator that checks it as strictly as the real API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from tests.gateway.gemini_upstream import (
    GEMINI_MODELS,
    GEMINI_USAGE,
    gemini_error_body,
    gemini_upstream,
)
from tests.gateway.upstreams import (
    ANTHROPIC_USAGE,
    MOCK_TEXT,
    OPENAI_USAGE,
    Upstream,
    anthropic_error_body,
    anthropic_upstream,
    openai_error_body,
    openai_upstream,
)

from tokenomy.gateway.errors import error_body, stream_error_event
from tokenomy.gateway.providers import anthropic_usage, openai_usage
from tokenomy.gateway.sse import EventReader
from tokenomy.gateway.translate import (
    DEFAULT_MAX_TOKENS,
    Protocol,
    StreamTranslator,
    TranslationError,
    gemini_usage,
    translator,
)
from tokenomy.record import TokenUsage

ALIAS = "my-alias"
MODELS: dict[str, str] = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-sonnet-4-6",
    "gemini": GEMINI_MODELS[0][0],
}
PROVIDER_USAGE: dict[str, TokenUsage] = {
    "openai": openai_usage(OPENAI_USAGE),
    "anthropic": anthropic_usage(ANTHROPIC_USAGE),
    "gemini": gemini_usage(GEMINI_USAGE),
}
PROVIDER_ERRORS: dict[str, Any] = {
    "openai": openai_error_body,
    "anthropic": anthropic_error_body,
    "gemini": gemini_error_body,
}
EMULATORS = {"openai": openai_upstream, "anthropic": anthropic_upstream, "gemini": gemini_upstream}
HI: Any = [{"role": "user", "content": "hi"}]
WEATHER_OPENAI: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
WEATHER_ANTHROPIC: Any = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": WEATHER_OPENAI["function"]["parameters"],
}


class MiniGateway(httpx2.BaseTransport):
    """The SDK's HTTP transport: translates and forwards each call to ``upstream``."""

    def __init__(self, client: Protocol, provider: Protocol, upstream: Upstream) -> None:
        found = translator(client, provider)
        assert found is not None
        self.translator = found
        self.client: Any = client
        self.provider = provider
        self.upstream = upstream
        self.streams: list[StreamTranslator] = []

    def _target(self, stream: bool) -> tuple[str, dict[str, str]]:
        base = self.upstream.base_url
        if self.provider == "anthropic":
            return base + "/v1/messages", {"x-api-key": "k", "anthropic-version": "2023-06-01"}
        if self.provider == "openai":
            return base + "/v1/chat/completions", {"authorization": "Bearer k"}
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{base}/v1beta/models/{MODELS['gemini']}:{method}", {"x-goog-api-key": "k"}

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.read())
        stream = body.get("stream") is True
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        try:
            upstream_body = self.translator.request(body, MODELS[self.provider], stream=stream)
        except TranslationError as exc:
            return _json(400, error_body(self.client, 400, str(exc)))
        url, headers = self._target(stream)
        with (
            httpx2.Client(timeout=10) as http,
            http.stream("POST", url, json=upstream_body, headers=headers) as response,
        ):
            if response.status_code >= 400:
                return _json(
                    response.status_code,
                    self.translator.error(response.status_code, response.read()),
                )
            if not stream:
                answer = self.translator.response(json.loads(response.read()), body["model"])
                return _json(200, json.dumps(answer).encode())
            return self._relay(response, body["model"], include_usage)

    def _relay(self, response: httpx2.Response, alias: str, include_usage: bool) -> httpx2.Response:
        translated = self.translator.stream(alias, include_usage=include_usage)
        self.streams.append(translated)
        reader = EventReader()
        out: list[bytes] = []
        try:
            for piece in response.iter_raw():
                for event in reader.feed(piece):
                    name = "" if event.name == "message" else event.name
                    out += translated.feed(name, event.data)
        except httpx2.TransportError:
            pass  # a cut stream: told apart below, as the gateway does, by `finished`
        if translated.finished or translated.error is not None:
            out += translated.finish()
        else:
            out.append(stream_error_event(self.client, "upstream stream failed"))
        headers = {"content-type": "text/event-stream"}
        return httpx2.Response(200, content=b"".join(out), headers=headers)


def _json(status: int, body: bytes) -> httpx2.Response:
    return httpx2.Response(status, content=body, headers={"content-type": "application/json"})


@pytest.fixture(params=["anthropic", "gemini"])
def for_openai(request: pytest.FixtureRequest) -> Iterator[tuple[openai.OpenAI, MiniGateway]]:
    """An OpenAI SDK client whose calls reach an Anthropic or Gemini emulator."""
    with EMULATORS[request.param]() as up:
        gateway = MiniGateway("openai", request.param, up)
        http = httpx2.Client(transport=gateway)
        with openai.OpenAI(
            base_url="http://gateway.test/v1", api_key="k", max_retries=0, http_client=http
        ) as client:
            yield client, gateway


@pytest.fixture(params=["openai", "gemini"])
def for_anthropic(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[anthropic.Anthropic, MiniGateway]]:
    """An Anthropic SDK client whose calls reach an OpenAI or Gemini emulator."""
    with EMULATORS[request.param]() as up:
        gateway = MiniGateway("anthropic", request.param, up)
        http = httpx2.Client(transport=gateway)
        with anthropic.Anthropic(
            base_url="http://gateway.test", api_key="k", max_retries=0, http_client=http
        ) as client:
            yield client, gateway


# -- OpenAI SDK -> Anthropic / Gemini ------------------------------------------------------


def test_openai_sdk_completion(for_openai: tuple[openai.OpenAI, MiniGateway]) -> None:
    client, gateway = for_openai
    done = client.chat.completions.create(model=ALIAS, messages=HI)
    assert done.model == ALIAS
    assert done.choices[0].message.content == MOCK_TEXT
    assert done.choices[0].finish_reason == "stop"
    expected = PROVIDER_USAGE[gateway.provider]
    assert done.usage is not None
    assert done.usage.prompt_tokens == expected.prompt_side
    assert done.usage.completion_tokens == expected.output_tokens
    assert done.usage.prompt_tokens_details is not None
    assert done.usage.prompt_tokens_details.cached_tokens == expected.cache_read_tokens
    if gateway.provider == "anthropic":  # Anthropic requires max_tokens: defaulted
        assert gateway.upstream.seen[0].json["max_tokens"] == DEFAULT_MAX_TOKENS


@pytest.mark.parametrize("include_usage", [True, False])
def test_openai_sdk_stream(
    for_openai: tuple[openai.OpenAI, MiniGateway], include_usage: bool
) -> None:
    client, gateway = for_openai
    options: Any = {"include_usage": True} if include_usage else openai.omit
    chunks = list(
        client.chat.completions.create(
            model=ALIAS, messages=HI, stream=True, stream_options=options
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == MOCK_TEXT
    usage_chunks = [c for c in chunks if c.usage is not None]
    if include_usage:
        (last,) = usage_chunks
        assert last is chunks[-1] and last.choices == []
        assert last.usage is not None
        expected = PROVIDER_USAGE[gateway.provider]
        assert last.usage.prompt_tokens == expected.prompt_side
    else:
        assert usage_chunks == []
    (translated,) = gateway.streams
    assert translated.finished
    assert translated.token_usage() == PROVIDER_USAGE[gateway.provider]
    assert translated.model == MODELS[gateway.provider]


def test_openai_sdk_stream_helper_with_tools(
    for_openai: tuple[openai.OpenAI, MiniGateway],
) -> None:
    client, _ = for_openai
    with client.chat.completions.stream(model=ALIAS, messages=HI, tools=[WEATHER_OPENAI]) as stream:
        final = stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {}
    assert final.choices[0].finish_reason == "tool_calls"


def test_openai_sdk_tool_loop(for_openai: tuple[openai.OpenAI, MiniGateway]) -> None:
    client, gateway = for_openai
    first = client.chat.completions.create(model=ALIAS, messages=HI, tools=[WEATHER_OPENAI])
    message = first.choices[0].message
    (call,) = message.tool_calls or []
    history: Any = [
        *HI,
        message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    client.chat.completions.create(model=ALIAS, messages=history, tools=[WEATHER_OPENAI])
    sent = gateway.upstream.seen[-1].json
    if gateway.provider == "gemini":  # matched by name, from the call's id
        assert sent["contents"][-1]["parts"] == [
            {"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}}
        ]
    else:
        assert sent["messages"][-1]["content"] == [
            {"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}
        ]


def test_openai_sdk_rate_limit(for_openai: tuple[openai.OpenAI, MiniGateway]) -> None:
    client, gateway = for_openai
    gateway.upstream.fail_next(429, retry_after=3)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model=ALIAS, messages=HI)
    assert info.value.status_code == 429
    # The provider's own message and code reach the client's SDK.
    error = PROVIDER_ERRORS[gateway.provider](429)["error"]
    assert info.value.body == {
        "message": error["message"],
        "type": "rate_limit_error",
        "param": None,
        "code": error.get("type", error.get("status")),
    }


def test_openai_sdk_refused_request(for_openai: tuple[openai.OpenAI, MiniGateway]) -> None:
    client, gateway = for_openai
    with pytest.raises(openai.BadRequestError, match="n=2"):
        client.chat.completions.create(model=ALIAS, messages=HI, n=2)
    assert gateway.upstream.seen == []


@pytest.mark.parametrize("fault", ["cut", "error"])
def test_openai_sdk_broken_stream(
    for_openai: tuple[openai.OpenAI, MiniGateway], fault: str
) -> None:
    client, gateway = for_openai
    if fault == "cut":
        gateway.upstream.cut_next_stream(2)
    else:
        gateway.upstream.error_next_stream(2, 503)
    with pytest.raises(openai.APIError):
        list(client.chat.completions.create(model=ALIAS, messages=HI, stream=True))
    (translated,) = gateway.streams
    assert not translated.finished
    assert (translated.error is not None) == (fault == "error")


# -- Anthropic SDK -> OpenAI / Gemini -----------------------------------------------------


def test_anthropic_sdk_message(for_anthropic: tuple[anthropic.Anthropic, MiniGateway]) -> None:
    client, gateway = for_anthropic
    message = client.messages.create(model=ALIAS, max_tokens=100, messages=HI, system="brief")
    assert message.model == ALIAS
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == MOCK_TEXT  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    expected = PROVIDER_USAGE[gateway.provider]
    assert message.usage.input_tokens == expected.input_tokens
    assert message.usage.cache_read_input_tokens == expected.cache_read_tokens
    assert message.usage.output_tokens == expected.output_tokens


def test_anthropic_sdk_stream(for_anthropic: tuple[anthropic.Anthropic, MiniGateway]) -> None:
    client, gateway = for_anthropic
    with client.messages.stream(model=ALIAS, max_tokens=100, messages=HI) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == MOCK_TEXT
    assert final.stop_reason == "end_turn"
    expected = PROVIDER_USAGE[gateway.provider]
    assert final.usage.input_tokens == expected.input_tokens
    assert final.usage.output_tokens == expected.output_tokens
    (translated,) = gateway.streams
    assert translated.finished
    assert translated.token_usage() == expected


def test_anthropic_sdk_stream_with_tools(
    for_anthropic: tuple[anthropic.Anthropic, MiniGateway],
) -> None:
    client, _ = for_anthropic
    with client.messages.stream(
        model=ALIAS, max_tokens=100, messages=HI, tools=[WEATHER_ANTHROPIC]
    ) as stream:
        final = stream.get_final_message()
    (block,) = final.content
    assert block.type == "tool_use"
    assert (block.name, block.input) == ("get_weather", {})
    assert final.stop_reason == "tool_use"


def test_anthropic_sdk_tool_loop(for_anthropic: tuple[anthropic.Anthropic, MiniGateway]) -> None:
    client, gateway = for_anthropic
    first = client.messages.create(
        model=ALIAS, max_tokens=100, messages=HI, tools=[WEATHER_ANTHROPIC]
    )
    (block,) = first.content
    assert block.type == "tool_use"
    history: Any = [
        *HI,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "sunny"}],
        },
    ]
    second = client.messages.create(
        model=ALIAS, max_tokens=100, messages=history, tools=[WEATHER_ANTHROPIC]
    )
    sent = gateway.upstream.seen[-1].json
    if gateway.provider == "gemini":
        assert second.content[0].type == "text"  # the emulator answers function responses
        assert sent["contents"][-1]["parts"][0]["functionResponse"]["name"] == "get_weather"
    else:
        assert sent["messages"][-1] == {
            "role": "tool",
            "tool_call_id": block.id,
            "content": "sunny",
        }


def test_anthropic_sdk_rate_limit(for_anthropic: tuple[anthropic.Anthropic, MiniGateway]) -> None:
    client, gateway = for_anthropic
    gateway.upstream.fail_next(429, retry_after=3)
    with pytest.raises(anthropic.RateLimitError) as info:
        client.messages.create(model=ALIAS, max_tokens=100, messages=HI)
    assert info.value.status_code == 429
    message = PROVIDER_ERRORS[gateway.provider](429)["error"]["message"]
    assert info.value.body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": message},
    }


@pytest.mark.parametrize("fault", ["cut", "error"])
def test_anthropic_sdk_broken_stream(
    for_anthropic: tuple[anthropic.Anthropic, MiniGateway], fault: str
) -> None:
    client, gateway = for_anthropic
    if fault == "cut":
        gateway.upstream.cut_next_stream(2)
    else:
        gateway.upstream.error_next_stream(2, 503)
    with (
        pytest.raises(anthropic.APIError),
        client.messages.stream(model=ALIAS, max_tokens=100, messages=HI) as stream,
    ):
        stream.get_final_message()
    (translated,) = gateway.streams
    assert not translated.finished
    assert (translated.error is not None) == (fault == "error")
