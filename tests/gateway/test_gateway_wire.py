"""What the gateway sends providers and what it records from their answers, seen through
the official SDKs: encodings, keys, usage and its absence, errors inside streams."""

from __future__ import annotations

import json
import time

import anthropic
import openai
import pytest
from tests.gateway.running import CATALOG, RunningGateway
from tests.gateway.test_gateway import (
    anthropic_client,
    anthropic_deployment,
    openai_client,
    openai_deployment,
    raw_http,
    records,
)
from tests.gateway.upstreams import ANTHROPIC_USAGE, MOCK_TEXT, REFUSAL_TEXT, Upstream

from tokenomy.record import TokenUsage
from tokenomy.store import Database
from tokenomy.store.costs import reprice, unpriced_models

ASK = [{"role": "user", "content": "hi"}]


def test_the_provider_is_asked_only_for_encodings_the_gateway_can_decode(
    oai: Upstream, db: Database
) -> None:
    """A client accepting br or zstd (curl --compressed, Node's fetch) used to have its
    Accept-Encoding forwarded: a provider answering in brotli gave a 502 after three billed
    attempts. The gateway now asks for gzip or deflate, and decodes the answer itself."""
    oai.compress_like_cloudflare = True
    with RunningGateway({"fast": [openai_deployment(oai)]}, db) as gw:
        reply = openai_client(gw).chat.completions.create(
            model="fast", messages=ASK, extra_headers={"Accept-Encoding": "br, zstd, gzip"}
        )
    assert reply.choices[0].message.content == MOCK_TEXT
    [seen] = oai.seen  # one attempt
    assert seen.headers["accept-encoding"] == "gzip, deflate"
    assert oai.encoded == ["gzip"]  # the answer came compressed, and was read
    [rec] = records(db)
    assert (rec["status"], rec["input_tokens"], rec["output_tokens"]) == ("ok", 8, 5)


def test_the_clients_key_goes_only_to_the_provider_and_host_it_was_sent_for(
    oai: Upstream, db: Database
) -> None:
    """No deployment here has a key of its own, so the client's is passed on, but only to
    a deployment of the provider and host of the alias's first: a fallback to another
    provider (here a local OpenAI-compatible server on the same port) used to receive the
    user's OpenAI key."""
    oai.needs_key = False  # the local server takes no key; the provider would check one
    base = oai.base_url + "/v1"
    models = {
        "fast": [
            {"provider": "openai", "model": "gpt-4o-mini", "base_url": base},
            {"provider": "openai", "model": "gpt-4o", "base_url": base},
        ],
        "local": [{"provider": "openai-compatible", "model": "llama3", "base_url": base}],
    }
    router = {"retries": 0, "strategy": "ordered"}
    with RunningGateway(models, db, fallbacks={"fast": ["local"]}, router=router) as gw:
        client = openai_client(gw)
        oai.fail_next(503)  # the first deployment fails: the second, same provider and host
        client.chat.completions.create(model="fast", messages=ASK)
        oai.fail_next(503, times=2)  # both fail: the fallback alias's local server answers
        reply = client.chat.completions.create(model="fast", messages=ASK)
    assert reply.choices[0].message.content == MOCK_TEXT
    sent = [(s.json["model"], s.headers.get("authorization")) for s in oai.seen]
    assert sent == [
        ("gpt-4o-mini", "Bearer client-key"),
        ("gpt-4o", "Bearer client-key"),
        ("gpt-4o-mini", "Bearer client-key"),
        ("gpt-4o", "Bearer client-key"),
        ("llama3", None),
    ]
    assert [r["provider"] for r in records(db)] == ["openai", "openai-compatible"]


def test_a_stream_without_usage_is_marked_so_and_never_called_unpriced(
    oai: Upstream, db: Database
) -> None:
    """A server that ignores stream_options sends no usage: the call is ok, its cost
    unknown for want of tokens. It used to look like a model with no price, and `prices
    check` asked for a price gpt-4o-mini has; repricing cannot make it known either."""
    with RunningGateway({"fast": [openai_deployment(oai)]}, db) as gw:
        client = openai_client(gw)
        client.chat.completions.create(model="fast", messages=ASK)  # priced, with usage
        oai.omit_usage = True
        chunks = list(client.chat.completions.create(model="fast", messages=ASK, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == MOCK_TEXT
    priced, missing = records(db)
    assert priced["cost_source"] == "computed" and "usage_missing" not in priced["attributes"]
    assert (missing["status"], missing["input_tokens"], missing["output_tokens"]) == ("ok", 0, 0)
    assert (missing["cost_nanos"], missing["cost_source"]) == (None, "unknown")
    assert missing["attributes"]["usage_missing"] is True
    assert unpriced_models(db) == []
    assert reprice(db, CATALOG).still_unknown == 0
    assert records(db)[1]["cost_nanos"] is None  # not turned into an exact $0


def test_a_stream_the_client_abandons_before_any_usage_has_an_unknown_cost(
    oai: Upstream, db: Database
) -> None:
    """The provider bills the prompt of a stream the client leaves: with no usage seen its
    cost is unknown, not the exact $0 it was recorded with."""
    oai.event_delay = 0.3  # the client leaves while the stream is still coming
    with RunningGateway({"fast": [openai_deployment(oai)]}, db) as gw:
        stream = openai_client(gw).chat.completions.create(model="fast", messages=ASK, stream=True)
        chunks = iter(stream)
        next(chunks), next(chunks)
        stream.close()
    [rec] = records(db)
    assert (rec["error_type"], rec["http_status"], rec["input_tokens"]) == (
        "client_disconnected",
        499,
        0,
    )
    assert (rec["cost_nanos"], rec["cost_source"]) == (None, "unknown")
    assert rec["attributes"]["usage_missing"] is True
    assert unpriced_models(db) == []


def test_openrouter_cache_writes_are_booked_as_cache_writes(oai: Upstream, db: Database) -> None:
    """OpenRouter's prompt_tokens hold its cache writes too: they were booked as plain
    input, at the input price, instead of the cache-write price."""
    oai.usage = {
        "prompt_tokens": 13050,
        "completion_tokens": 100,
        "total_tokens": 13150,
        "prompt_tokens_details": {"cached_tokens": 10000, "cache_write_tokens": 3000},
    }
    deployment = {**openai_deployment(oai, "anthropic/claude-sonnet-4.5"), "provider": "openrouter"}
    with RunningGateway({"claude": [deployment]}, db) as gw:
        client = openai_client(gw)
        reply = client.chat.completions.create(model="claude", messages=ASK)
        list(client.chat.completions.create(model="claude", messages=ASK, stream=True))
    assert reply.usage is not None and reply.usage.prompt_tokens == 13050  # relayed as sent
    for rec in records(db):
        assert (rec["input_tokens"], rec["cache_read_tokens"], rec["cache_write_tokens"]) == (
            50,
            10000,
            3000,
        )
        assert rec["output_tokens"] == 100


def test_anthropic_thinking_tokens_are_recorded_as_reasoning(ant: Upstream, db: Database) -> None:
    """As the Claude Code importer reads them: the same call through the gateway and
    through Claude Code's log used to disagree (reasoning 0 here)."""
    ant.usage = {
        "input_tokens": 10,
        "output_tokens": 89,
        "output_tokens_details": {"thinking_tokens": 60},
    }
    with RunningGateway({"claude": [anthropic_deployment(ant)]}, db) as gw:
        client = anthropic_client(gw)
        client.messages.create(model="claude", max_tokens=100, messages=ASK)
        with client.messages.stream(model="claude", max_tokens=100, messages=ASK) as stream:
            final = stream.get_final_message()
    assert final.usage.output_tokens == 89
    for rec in records(db):
        assert (rec["output_tokens"], rec["reasoning_tokens"]) == (89, 60)


def test_the_exact_cache_keeps_apart_answers_to_other_api_versions_and_betas(
    ant: Upstream, db: Database
) -> None:
    """A beta flag (context-1m, output-128k...) or another API version changes the
    answer: a request with one was served the entry made without it."""
    cache = {"aliases": {"claude": "exact"}}
    with RunningGateway({"claude": [anthropic_deployment(ant)]}, db, cache=cache) as gw:
        client = anthropic_client(gw)

        def served(**headers: str) -> str | None:
            reply = client.messages.with_raw_response.create(
                model="claude", max_tokens=100, messages=ASK, extra_headers=headers
            )
            return reply.headers.get("x-tokenomy-cache")

        beta = {"anthropic-beta": "context-1m-2025-08-07,output-128k-2025-02-19"}
        same_beta = {"anthropic-beta": "output-128k-2025-02-19, context-1m-2025-08-07"}
        answers = [
            served(),
            served(**beta),
            served(**same_beta),
            served(**{"anthropic-version": "2023-01-01"}),
            served(),
        ]
    assert answers == ["miss", "miss", "hit-exact", "miss", "hit-exact"]
    assert [s.headers.get("anthropic-beta") for s in ant.seen] == [
        None,
        beta["anthropic-beta"],
        None,
    ]


def test_a_providers_error_event_in_a_stream_is_the_one_recorded_and_the_only_one_sent(
    oai: Upstream, ant: Upstream, db: Database
) -> None:
    """The record said "the stream ended before its last event", and the client got a
    made-up second error event after the provider's."""
    models = {"fast": [openai_deployment(oai)], "claude": [anthropic_deployment(ant)]}
    with RunningGateway(models, db) as gw:
        oai.error_next_stream(after_events=2, status=503)
        with pytest.raises(openai.APIError, match="overloaded or not ready"):
            list(openai_client(gw).chat.completions.create(model="fast", messages=ASK, stream=True))
        ant.error_next_stream(after_events=3)
        with (
            pytest.raises(anthropic.APIStatusError, match="Overloaded"),
            anthropic_client(gw).messages.stream(
                model="claude", max_tokens=10, messages=ASK
            ) as stream,
        ):
            stream.get_final_message()
        ant.error_next_stream(after_events=3)
        body = json.dumps({"model": "claude", "max_tokens": 10, "stream": True, "messages": ASK})
        raw = raw_http(
            "POST",
            gw.url + "/v1/messages",
            body,
            **{
                "content-type": "application/json",
                "x-api-key": "k",
                "anthropic-version": "2023-06-01",
            },
        )
    assert raw.content.count(b"event: error") == 1
    oai_rec, ant_rec, _ = records(db)
    assert (oai_rec["error_type"], oai_rec["attributes"]["error"]) == (
        "stream_error",
        "The server is overloaded or not ready yet.",
    )
    assert oai_rec["attributes"]["error_code"] == "server_error"
    assert (ant_rec["error_type"], ant_rec["attributes"]["error"]) == ("stream_error", "Overloaded")
    assert ant_rec["attributes"]["error_code"] == "overloaded_error"
    assert ant_rec["input_tokens"] == 10  # message_start's usage is kept


def test_with_several_choices_the_finish_reason_is_choice_zeros_streamed_or_not(
    oai: Upstream, db: Database
) -> None:
    """Choice 0 stops, choice 1 is cut short: the stream used to record the last finish
    reason seen ("length"), the plain answer choice 0's ("stop")."""
    with RunningGateway({"fast": [openai_deployment(oai)]}, db) as gw:
        client = openai_client(gw)
        plain = client.chat.completions.create(model="fast", messages=ASK, n=2)
        chunks = list(client.chat.completions.create(model="fast", messages=ASK, n=2, stream=True))
    assert [c.finish_reason for c in plain.choices] == ["stop", "length"]
    ends = [(c.index, c.finish_reason) for k in chunks for c in k.choices if c.finish_reason]
    assert ends == [(0, "stop"), (1, "length")]
    assert [r["finish_reason"] for r in records(db)] == ["stop", "stop"]


def test_an_openai_refusal_reaches_an_anthropic_client_streamed_or_not(
    oai: Upstream, db: Database
) -> None:
    """An OpenAI refusal has no content, only message.refusal / delta.refusal: the
    Anthropic client served by an OpenAI deployment got an empty successful answer."""
    oai.refuse = True
    with RunningGateway({"gpt": [openai_deployment(oai)]}, db) as gw:
        client = anthropic_client(gw)
        plain = client.messages.create(model="gpt", max_tokens=100, messages=ASK)
        with client.messages.stream(model="gpt", max_tokens=100, messages=ASK) as stream:
            streamed = stream.get_final_message()
    for message in (plain, streamed):
        assert message.stop_reason == "refusal"
        assert [(b.type, getattr(b, "text", None)) for b in message.content] == [
            ("text", REFUSAL_TEXT)
        ]


def test_a_priority_tier_or_fast_mode_answer_is_priced_as_served(
    oai: Upstream, ant: Upstream, db: Database
) -> None:
    """OpenAI's service_tier and Anthropic's usage.speed say how a call was served; both
    bill twice the standard rate for these models (the record used standard prices)."""
    oai.service_tier = "priority"
    ant.usage = {"input_tokens": 1000, "output_tokens": 2000, "speed": "fast"}
    models = {
        "gpt": [openai_deployment(oai, "gpt-5.4")],
        "opus": [anthropic_deployment(ant, "claude-opus-4-8")],
    }
    with RunningGateway(models, db) as gw:
        client = openai_client(gw)
        client.chat.completions.create(model="gpt", messages=ASK)
        list(client.chat.completions.create(model="gpt", messages=ASK, stream=True))
        claude = anthropic_client(gw)
        claude.messages.create(model="opus", max_tokens=100, messages=ASK)
        with claude.messages.stream(model="opus", max_tokens=100, messages=ASK) as stream:
            stream.get_final_message()
    rows = records(db)
    assert len(rows) == 4
    for rec in rows:
        variant = rec["attributes"]["price_variant"]
        assert variant == ("service_tier=priority" if rec["provider"] == "openai" else "speed=fast")
        usage = TokenUsage(
            input_tokens=rec["input_tokens"],
            cache_read_tokens=rec["cache_read_tokens"],
            output_tokens=rec["output_tokens"],
        )
        model = rec["response_model"]
        standard = CATALOG.cost_nanos(rec["provider"], model, usage, int(time.time() * 1000))
        assert standard and rec["cost_nanos"] == 2 * standard, (model, variant)


def test_tool_calls_through_the_gateway_are_recorded_as_tool_uses(
    oai: Upstream, ant: Upstream, db: Database
) -> None:
    """As the agent-log importers record them (report tools, the MCP servers); a session
    run through the gateway showed no tools at all."""
    weather = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
    lookup = {"name": "mcp__docs__lookup", "input_schema": {"type": "object"}}
    models = {"gpt": [openai_deployment(oai)], "claude": [anthropic_deployment(ant)]}
    with RunningGateway(models, db) as gw:
        client = openai_client(gw)
        plain = client.chat.completions.create(model="gpt", messages=ASK, tools=[weather])
        list(
            client.chat.completions.create(model="gpt", messages=ASK, tools=[weather], stream=True)
        )
        claude = anthropic_client(gw)
        answer = claude.messages.create(model="claude", max_tokens=50, messages=ASK, tools=[lookup])
        with claude.messages.stream(
            model="claude", max_tokens=50, messages=ASK, tools=[lookup]
        ) as stream:
            stream.get_final_message()
    assert plain.choices[0].message.tool_calls and answer.stop_reason == "tool_use"
    rows = db.query(
        "SELECT t.name, t.mcp_server FROM call_tools t JOIN calls c "
        "ON c.source = t.source AND c.dedupe_key = t.dedupe_key WHERE c.source = 'gateway'"
    )
    assert sorted((str(n), m) for n, m in rows) == [
        ("get_weather", None),
        ("get_weather", None),
        ("mcp__docs__lookup", "docs"),
        ("mcp__docs__lookup", "docs"),
    ]


def test_count_tokens_and_one_model_are_answered_as_each_sdk_expects(
    oai: Upstream, ant: Upstream, db: Database
) -> None:
    """Claude Code and the SDKs call these beside messages; both were 404s."""
    models = {"claude": [anthropic_deployment(ant)], "gpt": [openai_deployment(oai)]}
    with RunningGateway(models, db) as gw:
        claude = anthropic_client(gw)
        counted = claude.messages.count_tokens(model="claude", messages=ASK)
        assert counted.input_tokens == ANTHROPIC_USAGE["input_tokens"]
        # The provider got its own model and key, and nothing was recorded as a call.
        seen = ant.seen[-1]
        assert seen.path == "/v1/messages/count_tokens"
        assert json.loads(seen.body)["model"] == "claude-sonnet-4-5"
        with pytest.raises(anthropic.BadRequestError, match="no Anthropic deployment"):
            claude.messages.count_tokens(model="gpt", messages=ASK)
        assert claude.models.retrieve("claude").id == "claude"
        assert openai_client(gw).models.retrieve("gpt").id == "gpt"
        with pytest.raises(openai.NotFoundError):
            openai_client(gw).models.retrieve("nope")
    assert records(db) == []


def test_anthropic_web_searches_are_billed_per_search(ant: Upstream, db: Database) -> None:
    """$10 per 1,000 searches beside the tokens: half of this call's bill was missing."""
    ant.usage = {
        "input_tokens": 9000,
        "output_tokens": 300,
        "server_tool_use": {"web_search_requests": 3},
    }
    with RunningGateway({"claude": [anthropic_deployment(ant)]}, db) as gw:
        client = anthropic_client(gw)
        client.messages.create(model="claude", max_tokens=100, messages=ASK)
        with client.messages.stream(model="claude", max_tokens=100, messages=ASK) as stream:
            stream.get_final_message()
    for rec in records(db):
        assert rec["attributes"]["web_search_requests"] == 3
        assert rec["cost_nanos"] == 31_500_000 + 30_000_000
