"""Clients of one protocol served by deployments of another, end to end through a real
uvicorn: the official SDKs see their own protocol, the provider sees its own, and the record
has the provider's exact token categories."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest
from tests.gateway.running import RunningGateway, close_after_test
from tests.gateway.test_gateway import (
    UPSTREAM_KEY,
    anthropic_deployment,
    openai_deployment,
    records,
)
from tests.gateway.upstreams import Upstream

from tokenomy.store import Database

HI = [{"role": "user", "content": "hi"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def gemini_deployment(up: Upstream, model: str = "gemini-2.5-flash") -> dict[str, Any]:
    return {"provider": "gemini", "model": model, "base_url": up.base_url, "api_key": UPSTREAM_KEY}


def oai_client(gw: RunningGateway) -> openai.OpenAI:
    return close_after_test(
        openai.OpenAI(base_url=gw.url + "/v1", api_key="client-key", max_retries=0)
    )


def ant_client(gw: RunningGateway) -> anthropic.Anthropic:
    return close_after_test(
        anthropic.Anthropic(base_url=gw.url, api_key="client-key", max_retries=0)
    )


def test_openai_client_on_an_anthropic_deployment(ant: Upstream, db: Database) -> None:
    with (
        RunningGateway({"smart": [anthropic_deployment(ant)]}, db) as gw,
        oai_client(gw) as client,
    ):
        reply = client.chat.completions.create(
            model="smart",
            messages=[{"role": "system", "content": "be brief"}, *HI],
            max_tokens=50,
            stop=["END"],
        )
        chunks = list(
            client.chat.completions.create(
                model="smart",
                messages=HI,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        called = client.chat.completions.create(model="smart", messages=HI, tools=[WEATHER])
    assert reply.choices[0].message.content == "Hello from mock"
    assert reply.model == "smart" and reply.choices[0].finish_reason == "stop"
    # OpenAI's prompt_tokens include cache reads and writes: 10 + 20 + 3.
    assert reply.usage is not None and reply.usage.prompt_tokens == 33
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "Hello from mock"
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
    call = called.choices[0].message.tool_calls
    assert call is not None and call[0].function.name == "get_weather"
    assert called.choices[0].finish_reason == "tool_calls"
    sent = ant.seen[0].json
    assert sent["system"] in ("be brief", [{"type": "text", "text": "be brief"}])
    assert (sent["max_tokens"], sent["stop_sequences"]) == (50, ["END"])
    assert ant.seen[0].headers["x-api-key"] == UPSTREAM_KEY
    assert ant.seen[0].headers["anthropic-version"]
    assert ant.seen[2].json["tools"][0]["name"] == "get_weather"
    for rec in records(db):
        assert rec["provider"] == "anthropic" and rec["status"] == "ok"
        assert (rec["input_tokens"], rec["cache_read_tokens"], rec["output_tokens"]) == (10, 20, 5)
        assert (rec["cache_write_tokens"], rec["cache_write_1h_tokens"]) == (1, 2)
        assert rec["cost_source"] == "computed"


def test_anthropic_client_on_an_openai_deployment(oai: Upstream, db: Database) -> None:
    with (
        RunningGateway({"claude": [openai_deployment(oai)]}, db) as gw,
        ant_client(gw) as client,
    ):
        message = client.messages.create(
            model="claude", max_tokens=100, system="be brief", messages=HI
        )
        with client.messages.stream(model="claude", max_tokens=100, messages=HI) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
    assert message.content[0].type == "text" and message.content[0].text == "Hello from mock"
    assert message.model == "claude" and message.stop_reason == "end_turn"
    # Anthropic's input_tokens exclude cache reads: 12 prompt - 4 cached.
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (8, 4)
    assert text == "Hello from mock" and final.usage.output_tokens == 5
    sent = oai.seen[0].json
    assert sent["messages"][0] == {"role": "system", "content": "be brief"}
    assert oai.seen[0].headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert "anthropic-version" not in oai.seen[0].headers
    assert oai.seen[1].json["stream_options"] == {"include_usage": True}
    for rec in records(db):
        assert rec["provider"] == "openai" and rec["status"] == "ok"
        assert (rec["input_tokens"], rec["cache_read_tokens"], rec["output_tokens"]) == (8, 4, 5)
        assert rec["reasoning_tokens"] == 2


@pytest.mark.parametrize("stream", [False, True])
def test_both_sdks_on_a_gemini_deployment(gem: Upstream, db: Database, stream: bool) -> None:
    with (
        RunningGateway({"flash": [gemini_deployment(gem)]}, db) as gw,
        oai_client(gw) as oai,
        ant_client(gw) as ant,
    ):
        if stream:
            chunks = list(oai.chat.completions.create(model="flash", messages=HI, stream=True))
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            with ant.messages.stream(model="flash", max_tokens=50, messages=HI) as s:
                ant_text = "".join(s.text_stream)
        else:
            reply = oai.chat.completions.create(model="flash", messages=HI)
            text = reply.choices[0].message.content or ""
            block = ant.messages.create(model="flash", max_tokens=50, messages=HI).content[0]
            ant_text = block.text if block.type == "text" else ""
    assert text == "Hello from mock" and ant_text == "Hello from mock"
    seen = gem.seen[0]
    assert seen.headers["x-goog-api-key"] == UPSTREAM_KEY
    method = "streamGenerateContent" if stream else "generateContent"
    assert seen.path == f"/v1beta/models/gemini-2.5-flash:{method}"
    assert seen.json["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    for rec in records(db):
        assert (rec["provider"], rec["status"]) == ("gemini", "ok")
        # promptTokenCount 11 includes 3 cached; output 5 + 2 thinking.
        assert (rec["input_tokens"], rec["cache_read_tokens"]) == (8, 3)
        assert (rec["output_tokens"], rec["reasoning_tokens"]) == (7, 2)
        assert rec["finish_reason"] == "STOP"


def test_provider_errors_come_back_in_the_client_protocol(gem: Upstream, db: Database) -> None:
    gem.fail_next(429, retry_after=90)
    with (
        RunningGateway({"flash": [gemini_deployment(gem)]}, db) as gw,
        oai_client(gw) as client,
        pytest.raises(openai.RateLimitError) as caught,
    ):
        client.chat.completions.create(model="flash", messages=HI)
    body = caught.value.response.json()
    assert set(body) == {"error"} and body["error"]["message"]
    assert caught.value.response.headers["retry-after"] == "90"
    [rec] = records(db)
    assert (rec["status"], rec["http_status"]) == ("error", 429)


def test_a_request_the_provider_protocol_cannot_express_is_a_400(
    ant: Upstream, db: Database
) -> None:
    with (
        RunningGateway({"smart": [anthropic_deployment(ant)]}, db) as gw,
        oai_client(gw) as client,
        pytest.raises(openai.BadRequestError, match="anthropic/claude-sonnet-4-5") as caught,
    ):
        client.chat.completions.create(model="smart", messages=HI, n=2)
    assert caught.value.status_code == 400
    assert ant.seen == []
    [rec] = records(db)
    assert rec["status"] == "error" and rec["http_status"] == 400
    assert json.dumps(rec["attributes"])  # the reason is kept with the record
