"""``tokenomy.track(client)``: the official SDKs, sync and async, against emulated providers;
every HTTP attempt recorded in a real database with its exact tokens."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from tests.gateway.upstreams import Upstream
from tests.sdk.conftest import WiderOpenAI, stored, tokens

import tokenomy
from tokenomy.gateway.recorder import Recorder
from tokenomy.pricing import PriceCatalog
from tokenomy.store import BatchWriter, Database, open_database

HI: Any = [{"role": "user", "content": "hi"}]
WEATHER: Any = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}
# 12 prompt tokens of which 4 cached; 5 completion tokens of which 2 reasoning.
OPENAI_TOKENS = (8, 4, 0, 0, 5, 2)
# 10 input, 20 cache reads, 3 cache writes of which 2 for an hour, 5 output.
ANTHROPIC_TOKENS = (10, 20, 1, 2, 5, 0)
CLAUDE = "claude-sonnet-4-6"  # accepted by the emulator; the SDK warns for older names


@pytest.fixture(autouse=True)
def _closing() -> Iterator[None]:
    """Every SDK client a test opens is closed after it (an open socket left to the garbage
    collector is a ResourceWarning, an error here)."""
    yield
    while OPENED:
        OPENED.pop().close()


OPENED: list[openai.OpenAI | anthropic.Anthropic | httpx2.Client] = []


def oai_client(up: Upstream, **options: Any) -> openai.OpenAI:
    options = {"max_retries": 0, **options}
    client = openai.OpenAI(base_url=up.base_url + "/v1", api_key="k", **options)
    OPENED.append(client)
    return client


def ant_client(up: Upstream) -> anthropic.Anthropic:
    client = anthropic.Anthropic(base_url=up.base_url, api_key="k", max_retries=0)
    OPENED.append(client)
    return client


def test_openai_chat_tools_and_embeddings_are_recorded_exactly(
    oai: Upstream, recorder: Recorder, sqlite_db: Database
) -> None:
    client = tokenomy.track(
        oai_client(oai), project="web", user="ann", session="s1", tags=["a"], recorder=recorder
    )
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    tool = client.chat.completions.create(model="gpt-4o-mini", messages=HI, tools=[WEATHER])
    vectors = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert reply.choices[0].message.content == "Hello from mock"
    calls = tool.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "get_weather"
    assert len(vectors.data) == 2
    # The provider got the SDK's request as is.
    assert oai.seen[0].json == {"model": "gpt-4o-mini", "messages": HI}
    assert not any(k.startswith("x-tokenomy-") for k in oai.seen[0].headers)

    recs = stored(sqlite_db, recorder)
    chats = [r for r in recs if r["operation"] == "chat"]
    [embed] = [r for r in recs if r["operation"] == "embeddings"]
    assert len(chats) == 2
    for rec in chats:
        assert (rec["source"], rec["provider"], rec["status"], rec["http_status"]) == (
            "sdk",
            "openai",
            "ok",
            200,
        )
        assert rec["request_model"] == rec["response_model"] == "gpt-4o-mini"
        assert (rec["project"], rec["user"], rec["session_id"]) == ("web", "ann", "s1")
        assert rec["attributes"]["tags"] == ["a"]
        assert tokens(rec) == OPENAI_TOKENS
        assert rec["cost_source"] == "computed" and rec["cost_nanos"] > 0
        assert rec["ttft_ms"] is not None and rec["duration_ms"] >= rec["ttft_ms"]
    assert sorted(r["finish_reason"] for r in chats) == ["stop", "tool_calls"]
    assert (embed["request_model"], embed["input_tokens"], embed["output_tokens"]) == (
        "text-embedding-3-small",
        3,
        0,
    )


def test_openai_streams_are_read_as_the_sdk_reads_them(oai: Upstream, sqlite_db: Database) -> None:
    plain = Recorder(BatchWriter(sqlite_db, flush_interval=0.05), PriceCatalog.load(None))
    client = tokenomy.track(oai_client(oai), recorder=plain)
    without = list(client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True))
    with_usage = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=HI,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in without if c.choices)
    assert text == "Hello from mock"
    assert with_usage[-1].usage is not None and with_usage[-1].usage.completion_tokens == 5
    # In-process we hide nothing, so a request that did not ask for usage goes as it was.
    assert "stream_options" not in oai.seen[0].json
    unknown, known = sorted(stored(sqlite_db, plain), key=lambda r: r["input_tokens"])
    assert unknown["status"] == "ok" and unknown["attributes"]["usage_unknown"] is True
    assert tokens(unknown) == (0, 0, 0, 0, 0, 0)
    assert unknown["response_model"] == "gpt-4o-mini" and unknown["finish_reason"] == "stop"
    assert tokens(known) == OPENAI_TOKENS and "usage_unknown" not in known["attributes"]
    for rec in (unknown, known):
        assert rec["attributes"]["stream"] is True and rec["ttft_ms"] is not None


def test_stream_usage_asks_openai_for_usage(oai: Upstream, tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'usage.db'}")
    rec = Recorder(BatchWriter(db, flush_interval=0.05), PriceCatalog.load(None))
    client = tokenomy.track(oai_client(oai), recorder=rec, stream_usage=True)
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True))
    assert oai.seen[0].json["stream_options"] == {"include_usage": True}
    assert chunks[-1].choices == [] and chunks[-1].usage is not None  # what the user accepts
    [call] = stored(db, rec)
    assert tokens(call) == OPENAI_TOKENS and call["status"] == "ok"
    db.close()


def test_anthropic_messages_and_stream_with_cache_tokens(
    ant: Upstream, recorder: Recorder, sqlite_db: Database
) -> None:
    client = tokenomy.track(ant_client(ant), project="p", recorder=recorder)
    message = client.messages.create(model=CLAUDE, max_tokens=100, messages=HI)
    with client.messages.stream(model=CLAUDE, max_tokens=100, messages=HI) as stream:
        final = stream.get_final_message()
    assert message.content[0].type == "text" and message.content[0].text == "Hello from mock"
    assert final.usage.output_tokens == 5
    recs = stored(sqlite_db, recorder)
    assert len(recs) == 2
    assert sorted(r["attributes"].get("stream", False) for r in recs) == [False, True]
    for rec in recs:
        assert (rec["source"], rec["provider"], rec["operation"]) == (
            "sdk",
            "anthropic",
            "messages",
        )
        assert rec["request_model"] == rec["response_model"] == CLAUDE
        assert tokens(rec) == ANTHROPIC_TOKENS
        assert rec["finish_reason"] == "end_turn" and rec["project"] == "p"
        assert rec["cost_source"] == "computed" and rec["cost_nanos"] > 0


def test_async_clients_are_recorded(
    oai: Upstream, ant: Upstream, recorder: Recorder, sqlite_db: Database
) -> None:
    async def calls() -> list[str]:
        o = tokenomy.track(
            openai.AsyncOpenAI(base_url=oai.base_url + "/v1", api_key="k", max_retries=0),
            recorder=recorder,
            user="async",
        )
        a = tokenomy.track(
            anthropic.AsyncAnthropic(base_url=ant.base_url, api_key="k", max_retries=0),
            recorder=recorder,
            user="async",
        )
        reply = await o.chat.completions.create(model="gpt-4o-mini", messages=HI)
        stream = await o.chat.completions.create(
            model="gpt-4o-mini", messages=HI, stream=True, stream_options={"include_usage": True}
        )
        pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        async with a.messages.stream(model=CLAUDE, max_tokens=10, messages=HI) as s:
            final = await s.get_final_message()
        await o.close()
        await a.close()
        return [reply.choices[0].message.content or "", "".join(pieces), final.stop_reason or ""]

    assert asyncio.run(calls()) == ["Hello from mock", "Hello from mock", "end_turn"]
    recs = stored(sqlite_db, recorder)
    by_provider = sorted((r["provider"], tokens(r)) for r in recs)
    assert by_provider == [
        ("anthropic", ANTHROPIC_TOKENS),
        ("openai", OPENAI_TOKENS),
        ("openai", OPENAI_TOKENS),
    ]
    assert all(r["user"] == "async" and r["status"] == "ok" for r in recs)


def test_a_call_the_caller_cancels_is_recorded_as_cancelled(
    oai: Upstream, recorder: Recorder, sqlite_db: Database
) -> None:
    """The request was sent (the provider may bill it): one record per attempt, as for any
    other, though asyncio's cancellation is not an Exception."""
    oai.first_byte_delay = 2.0

    async def calls() -> None:
        o = tokenomy.track(
            openai.AsyncOpenAI(base_url=oai.base_url + "/v1", api_key="k", max_retries=0),
            recorder=recorder,
        )
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(o.chat.completions.create(model="gpt-4o-mini", messages=HI), 0.3)
        await o.close()

    asyncio.run(calls())
    [rec] = stored(sqlite_db, recorder)
    assert (rec["status"], rec["error_type"]) == ("error", "cancelled")


def test_a_provider_error_is_raised_unchanged_and_recorded_failed(
    oai: Upstream, ant: Upstream, recorder: Recorder, sqlite_db: Database
) -> None:
    oai.fail_next(429, retry_after=7)
    ant.fail_next(529)
    with pytest.raises(openai.RateLimitError) as caught:
        tokenomy.track(oai_client(oai), recorder=recorder).chat.completions.create(
            model="gpt-4o-mini", messages=HI
        )
    with pytest.raises(anthropic.InternalServerError):
        tokenomy.track(ant_client(ant), recorder=recorder).messages.create(
            model=CLAUDE, max_tokens=5, messages=HI
        )
    assert caught.value.response.headers["retry-after"] == "7"
    recs = sorted(stored(sqlite_db, recorder), key=lambda r: r["http_status"])
    assert [(r["status"], r["http_status"], r["error_type"]) for r in recs] == [
        ("error", 429, "http_429"),
        ("error", 529, "http_529"),
    ]
    assert "Rate limit reached" in recs[0]["attributes"]["error"]
    assert "Overloaded" in recs[1]["attributes"]["error"]
    assert all(r["cost_nanos"] == 0 and r["request_model"] for r in recs)


def test_each_sdk_retry_is_its_own_record(
    oai: Upstream, recorder: Recorder, sqlite_db: Database
) -> None:
    oai.fail_next(503, retry_after=0.01, times=2)
    client = tokenomy.track(oai_client(oai, max_retries=2), recorder=recorder)
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert reply.choices[0].message.content == "Hello from mock"
    recs = stored(sqlite_db, recorder)
    # Three HTTP attempts, three records: what each attempt cost, not one merged call.
    assert sorted((r["http_status"], r["attributes"].get("sdk_retry", 0)) for r in recs) == [
        (200, 2),
        (503, 0),
        (503, 1),
    ]
    [ok] = [r for r in recs if r["status"] == "ok"]
    assert tokens(ok) == OPENAI_TOKENS


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_connection_error_is_recorded_and_raised(recorder: Recorder, sqlite_db: Database) -> None:
    client = openai.OpenAI(
        base_url=f"http://127.0.0.1:{_closed_port()}/v1", api_key="k", max_retries=0
    )
    OPENED.append(client)
    with pytest.raises(openai.APIConnectionError):
        tokenomy.track(client, recorder=recorder).chat.completions.create(
            model="gpt-4o-mini", messages=HI
        )
    [rec] = stored(sqlite_db, recorder)
    assert (rec["status"], rec["error_type"], rec["http_status"]) == (
        "error",
        "connection_error",
        None,
    )
    assert "ConnectError" in rec["attributes"]["error"]


def test_a_stream_closed_early_is_recorded_as_abandoned_with_the_tokens_seen(
    oai: Upstream, ant: Upstream, recorder: Recorder, sqlite_db: Database
) -> None:
    o = tokenomy.track(oai_client(oai), recorder=recorder)
    a = tokenomy.track(ant_client(ant), recorder=recorder)
    with o.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True) as chunks:
        next(iter(chunks))
    with a.messages.create(model=CLAUDE, max_tokens=10, messages=HI, stream=True) as events:
        assert next(iter(events)).type == "message_start"
    recs = sorted(stored(sqlite_db, recorder), key=lambda r: r["provider"])
    assert [(r["provider"], r["status"], r["attributes"]["abandoned"]) for r in recs] == [
        ("anthropic", "ok", True),
        ("openai", "ok", True),
    ]
    # message_start had come: its input tokens and first output token were billed.
    assert tokens(recs[0]) == (10, 20, 1, 2, 1, 0)


def test_a_cut_or_failed_stream_is_recorded_failed(
    oai: Upstream, ant: Upstream, recorder: Recorder, sqlite_db: Database
) -> None:
    oai.cut_next_stream(after_events=2)
    ant.error_next_stream(after_events=2)
    o = tokenomy.track(oai_client(oai), recorder=recorder)
    a = tokenomy.track(ant_client(ant), recorder=recorder)
    with pytest.raises(openai.APIConnectionError):
        list(o.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True))
    with pytest.raises(anthropic.APIStatusError, match="Overloaded"):
        list(a.messages.create(model=CLAUDE, max_tokens=10, messages=HI, stream=True))
    recs = sorted(stored(sqlite_db, recorder), key=lambda r: r["provider"])
    assert [(r["provider"], r["status"], r["error_type"]) for r in recs] == [
        ("anthropic", "error", "stream_error"),
        ("openai", "error", "stream_interrupted"),
    ]
    assert recs[0]["input_tokens"] == 10  # message_start had come


def test_responses_api_plain_stream_and_compressed(
    wide: WiderOpenAI, recorder: Recorder, sqlite_db: Database
) -> None:
    client = tokenomy.track(oai_client(wide), recorder=recorder)
    reply = client.responses.create(model="gpt-4o-mini", input="hi")
    events = list(client.responses.create(model="gpt-4o-mini", input="hi", stream=True))
    wide.compress = True
    squeezed = client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    squeezed_stream = list(client.responses.create(model="gpt-4o-mini", input="hi", stream=True))
    assert reply.output_text == "Hello from mock"
    assert events[-1].type == squeezed_stream[-1].type == "response.completed"
    assert squeezed.choices[0].message.content == "Hello from mock"
    recs = stored(sqlite_db, recorder)
    assert sorted(r["operation"] for r in recs) == ["chat", "responses", "responses", "responses"]
    for rec in recs:
        assert tokens(rec) == OPENAI_TOKENS and rec["status"] == "ok"
        assert rec["response_model"] == "gpt-4o-mini"


def test_track_changes_only_the_client_it_is_given(
    oai: Upstream, recorder: Recorder, sqlite_db: Database
) -> None:
    handle = httpx2.HTTPTransport.handle_request
    other = oai_client(oai)
    other_transport = other._client._transport
    tracked = tokenomy.track(oai_client(oai), recorder=recorder)
    tracked.chat.completions.create(model="gpt-4o-mini", messages=HI)
    other.chat.completions.create(model="gpt-4o-mini", messages=HI)
    oai_client(oai).chat.completions.create(model="gpt-4o-mini", messages=HI)
    # Copies share the tracked HTTP client; tracking twice does not record twice.
    tokenomy.track(tracked, recorder=recorder).with_options(timeout=5).embeddings.create(
        model="text-embedding-3-small", input="a"
    )
    assert other._client._transport is other_transport
    assert httpx2.HTTPTransport.handle_request is handle
    recs = stored(sqlite_db, recorder)
    assert sorted(r["operation"] for r in recs) == ["chat", "embeddings"]


def test_attribution_headers_override_per_request_and_stay_home(
    oai: Upstream, recorder: Recorder, sqlite_db: Database
) -> None:
    client = tokenomy.track(oai_client(oai), project="web", tags=["x"], recorder=recorder)
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=HI,
        extra_headers={"x-tokenomy-project": "batch", "x-tokenomy-tags": "nightly, eval"},
    )
    assert not any(k.startswith("x-tokenomy-") for k in oai.seen[0].headers)
    [rec] = stored(sqlite_db, recorder)
    assert rec["project"] == "batch" and rec["attributes"]["tags"] == ["nightly", "eval"]


def test_a_broken_recorder_never_breaks_the_call(
    oai: Upstream, sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    broken = Recorder(BatchWriter(sqlite_db), PriceCatalog.load(None))
    broken.close()  # every put now raises
    client = tokenomy.track(oai_client(oai), recorder=broken)
    with caplog.at_level(logging.DEBUG, logger="tokenomy.sdk"):
        for _ in range(3):
            reply = client.chat.completions.create(model="gpt-4o-mini", messages=HI)
            assert reply.choices[0].message.content == "Hello from mock"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "call itself is unaffected" in warnings[0].getMessage()
    assert warnings[0].exc_info is not None


def test_track_refuses_what_it_cannot_track() -> None:
    with pytest.raises(TypeError, match="OpenAI or Anthropic SDK client"):
        OPENED.append(httpx2.Client())
        tokenomy.track(OPENED[-1])


def test_records_reach_postgresql(oai: Upstream, postgres_db: Database) -> None:
    rec = Recorder(BatchWriter(postgres_db, flush_interval=0.05), PriceCatalog.load(None))
    tokenomy.track(oai_client(oai), user="pg", recorder=rec).chat.completions.create(
        model="gpt-4o-mini", messages=HI
    )
    [call] = stored(postgres_db, rec)
    assert tokens(call) == OPENAI_TOKENS and call["user"] == "pg" and call["source"] == "sdk"


def test_by_default_records_go_to_tokenomy_db_and_are_flushed_at_exit(
    oai: Upstream, tmp_path: Path
) -> None:
    """A program that tracks a client and exits without closing anything."""
    script = textwrap.dedent(
        f"""
        import openai, tokenomy
        client = tokenomy.track(openai.OpenAI(base_url={oai.base_url + "/v1"!r}, api_key="k"))
        client.chat.completions.create(model="gpt-4o-mini", messages={HI!r})
        """
    )
    env = {**os.environ, "TOKENOMY_HOME": str(tmp_path), "TOKENOMY_DB": str(tmp_path / "t.db")}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    db = open_database(f"sqlite:///{tmp_path / 't.db'}")
    [call] = stored(db)
    db.close()
    assert call["source"] == "sdk" and tokens(call) == OPENAI_TOKENS


def test_importing_tokenomy_loads_no_sdk_and_no_gateway() -> None:
    code = (
        "import sys, tokenomy; "
        "print(sorted(m for m in ('openai', 'anthropic', 'aiohttp', 'httpx2') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
