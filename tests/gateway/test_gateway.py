"""The gateway end to end: the official SDKs as clients, emulated providers upstream, a real
uvicorn in between, and the records it writes to a real database."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import anthropic
import openai
import pytest
from tests.gateway.running import RunningGateway, close_after_test
from tests.gateway.upstreams import Upstream, anthropic_upstream, openai_upstream

from tokenomy.store import Database

UPSTREAM_KEY = "upstream-secret"


def openai_deployment(up: Upstream, model: str = "gpt-4o-mini") -> dict[str, Any]:
    return {
        "provider": "openai",
        "model": model,
        "base_url": up.base_url + "/v1",
        "api_key": UPSTREAM_KEY,
    }


def anthropic_deployment(up: Upstream, model: str = "claude-sonnet-4-5") -> dict[str, Any]:
    return {
        "provider": "anthropic",
        "model": model,
        "base_url": up.base_url,
        "api_key": UPSTREAM_KEY,
    }


def openai_client(gw: RunningGateway, **headers: str) -> openai.OpenAI:
    client = openai.OpenAI(
        base_url=gw.url + "/v1", api_key="client-key", max_retries=0, default_headers=headers
    )
    return close_after_test(client)


def anthropic_client(gw: RunningGateway) -> anthropic.Anthropic:
    client = anthropic.Anthropic(base_url=gw.url, api_key="client-key", max_retries=0)
    return close_after_test(client)


class Reply:
    def __init__(self, status: int, body: bytes) -> None:
        self.status_code, self.content = status, body

    def json(self) -> Any:
        return json.loads(self.content)


def raw_http(method: str, url: str, body: bytes | None = None, **headers: str) -> Reply:
    """A bare HTTP request, for what an SDK would never send (bad JSON, huge bodies)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request(method, parts.path, body=body, headers=headers)
        response = conn.getresponse()
        return Reply(response.status, response.read())
    finally:
        conn.close()


def records(db: Database) -> list[dict[str, Any]]:
    cols = (
        "provider, request_model, response_model, project, user, session_id, status, "
        "error_type, http_status, input_tokens, cache_read_tokens, cache_write_tokens, "
        "cache_write_1h_tokens, output_tokens, reasoning_tokens, cost_nanos, cost_source, "
        "finish_reason, operation, ttft_ms, duration_ms, attributes"
    )
    names = [c.strip() for c in cols.split(",")]
    quoted = ", ".join(f'"{n}"' for n in names)  # "user" is a keyword in PostgreSQL
    rows = db.query(f"SELECT {quoted} FROM calls WHERE source = 'gateway' ORDER BY started_at")
    out = [dict(zip(names, r, strict=True)) for r in rows]
    for rec in out:  # JSON text on SQLite, already decoded on PostgreSQL
        if isinstance(rec["attributes"], str):
            rec["attributes"] = json.loads(rec["attributes"])
    return out


def test_openai_sdk_call_is_relayed_and_recorded_with_attribution(
    oai: Upstream, db: Database
) -> None:
    with RunningGateway({"fast": [openai_deployment(oai)]}, db) as gw:
        client = openai_client(
            gw, **{"x-tokenomy-project": "web", "x-tokenomy-user": "ann", "x-tokenomy-tags": "a, b"}
        )
        reply = client.chat.completions.create(
            model="fast", messages=[{"role": "user", "content": "hi"}]
        )
    assert reply.choices[0].message.content == "Hello from mock"
    assert reply.usage is not None and reply.usage.prompt_tokens == 12
    # The provider saw its own model id and the deployment's key, never the client's.
    seen = oai.seen[-1]
    assert seen.json["model"] == "gpt-4o-mini"
    assert seen.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert not any(k.startswith("x-tokenomy-") for k in seen.headers)
    [rec] = records(db)
    assert rec["provider"] == "openai" and rec["request_model"] == "fast"
    assert rec["response_model"] == "gpt-4o-mini"
    assert (rec["project"], rec["user"]) == ("web", "ann")
    assert rec["status"] == "ok" and rec["http_status"] == 200
    # 12 prompt tokens of which 4 cached; 5 completion tokens of which 2 reasoning.
    assert (rec["input_tokens"], rec["cache_read_tokens"], rec["output_tokens"]) == (8, 4, 5)
    assert rec["reasoning_tokens"] == 2
    assert rec["cost_source"] == "computed" and rec["cost_nanos"] > 0
    assert rec["finish_reason"] == "stop"
    assert rec["attributes"]["tags"] == ["a", "b"]


def test_byte_faithful_when_the_alias_is_the_model(oai: Upstream, db: Database) -> None:
    body = (
        b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],'
        b' "x_unknown": 1.50}'
    )
    with RunningGateway({"gpt-4o-mini": [openai_deployment(oai)]}, db) as gw:
        reply = raw_http(
            "POST",
            gw.url + "/v1/chat/completions",
            body,
            **{"content-type": "application/json", "authorization": "Bearer c"},
        )
    assert reply.status_code == 200
    assert oai.seen[-1].body == body


def test_openai_stream_gets_usage_even_when_the_client_did_not_ask(
    oai: Upstream, db: Database
) -> None:
    with RunningGateway({"fast": [openai_deployment(oai)]}, db) as gw:
        client = openai_client(gw)
        chunks = list(
            client.chat.completions.create(
                model="fast", messages=[{"role": "user", "content": "hi"}], stream=True
            )
        )
        with_usage = list(
            client.chat.completions.create(
                model="fast",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from mock"
    # We asked the provider for usage, and hid the extra chunk from a client that did not.
    assert oai.seen[0].json["stream_options"] == {"include_usage": True}
    assert all(c.usage is None for c in chunks)
    assert with_usage[-1].usage is not None and with_usage[-1].usage.completion_tokens == 5
    first, second = records(db)
    for rec in (first, second):
        assert (rec["input_tokens"], rec["cache_read_tokens"], rec["output_tokens"]) == (8, 4, 5)
        assert rec["status"] == "ok" and rec["ttft_ms"] is not None
        assert rec["attributes"]["stream"] is True


def test_openai_tools_and_embeddings(oai: Upstream, db: Database) -> None:
    tool = {
        "type": "function",
        "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
    }
    with RunningGateway(
        {
            "fast": [openai_deployment(oai)],
            "embed": [openai_deployment(oai, "text-embedding-3-small")],
        },
        db,
    ) as gw:
        client = openai_client(gw)
        reply = client.chat.completions.create(
            model="fast",
            messages=[{"role": "user", "content": "weather?"}],
            tools=[tool],  # type: ignore[list-item]
        )
        vectors = client.embeddings.create(model="embed", input=["a", "b"])
    calls = reply.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "get_weather"
    assert len(vectors.data) == 2
    chat, embed = records(db)
    assert chat["finish_reason"] == "tool_calls"
    assert embed["operation"] == "embeddings" and embed["input_tokens"] == 3


def test_anthropic_sdk_messages_and_stream_with_cache_tokens(ant: Upstream, db: Database) -> None:
    with RunningGateway({"claude": [anthropic_deployment(ant)]}, db) as gw:
        client = anthropic_client(gw)
        message = client.messages.create(
            model="claude",
            max_tokens=100,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}
                    ],
                }
            ],
        )
        with client.messages.stream(
            model="claude", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            final = stream.get_final_message()
    assert message.content[0].type == "text" and message.content[0].text == "Hello from mock"
    assert final.usage.output_tokens == 5
    # cache_control went through untouched; the deployment's key replaced the client's.
    assert ant.seen[0].json["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert ant.seen[0].headers["x-api-key"] == UPSTREAM_KEY
    assert "anthropic-version" in ant.seen[0].headers
    for rec in records(db):
        assert rec["provider"] == "anthropic"
        assert (rec["input_tokens"], rec["cache_read_tokens"], rec["output_tokens"]) == (10, 20, 5)
        assert (rec["cache_write_tokens"], rec["cache_write_1h_tokens"]) == (1, 2)
        assert rec["finish_reason"] == "end_turn"
        assert rec["cost_source"] == "computed"


def test_gateway_errors_use_the_client_protocol_shape(oai: Upstream, db: Database) -> None:
    with RunningGateway({"fast": [openai_deployment(oai)]}, db, max_body_bytes=2000) as gw:
        with pytest.raises(openai.NotFoundError, match="unknown model 'nope'"):
            openai_client(gw).chat.completions.create(
                model="nope", messages=[{"role": "user", "content": "hi"}]
            )
        with pytest.raises(anthropic.NotFoundError, match="unknown model 'nope'"):
            anthropic_client(gw).messages.create(
                model="nope", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
            )
        bad = raw_http("POST", gw.url + "/v1/chat/completions", b"{not json")
        big = raw_http("POST", gw.url + "/v1/chat/completions", b"x" * 5000)
        missing = raw_http("POST", gw.url + "/v1/nothing", b"{}")
        health = raw_http("GET", gw.url + "/health")
        probe = raw_http("HEAD", gw.url + "/health")  # load balancers probe with HEAD
        options = raw_http(
            "POST",
            gw.url + "/v1/chat/completions",
            b'{"model": "fast", "stream": true, "stream_options": "yes", "messages": []}',
        )
        deep = b'{"model": "fast", "messages": [], "metadata": ' + b"[" * 260 + b"]" * 260 + b"}"
        nested = raw_http("POST", gw.url + "/v1/chat/completions", deep)
        deep_messages = raw_http("POST", gw.url + "/v1/messages", deep)
        models = openai_client(gw).models.list()
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
    # Valid JSON that orjson reads but cannot write back: was a plain-text 500.
    assert nested.status_code == 400 and "more than 200 levels" in nested.json()["error"]["message"]
    assert nested.json()["error"]["code"] == "invalid_json"
    assert deep_messages.status_code == 400 and deep_messages.json()["type"] == "error"
    assert big.status_code == 413 and "over 2000 bytes" in big.json()["error"]["message"]
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "invalid_request_error"
    assert health.json() == {"status": "ok"}
    assert (probe.status_code, probe.content) == (200, b"")
    assert options.status_code == 400  # was a plain-text 500
    assert "stream_options must be an object" in options.json()["error"]["message"]
    assert [m.id for m in models.data] == ["fast"]
    assert records(db) == []  # refused requests never reached a provider: nothing to record


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_failover_to_the_next_deployment(oai: Upstream, db: Database) -> None:
    dead = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "base_url": f"http://127.0.0.1:{_closed_port()}/v1",
        "api_key": "k",
    }
    with openai_upstream() as flaky:
        flaky.fail_next(503)
        models = {
            "fast": [dead, openai_deployment(oai)],
            "flaky": [openai_deployment(flaky), openai_deployment(oai)],
        }
        with RunningGateway(models, db) as gw:
            client = openai_client(gw)
            for alias in ("fast", "flaky"):
                reply = client.chat.completions.create(
                    model=alias, messages=[{"role": "user", "content": "hi"}]
                )
                assert reply.choices[0].message.content == "Hello from mock"
    first, second = records(db)
    assert first["status"] == second["status"] == "ok"
    assert first["attributes"]["attempts"] == 2
    assert second["attributes"]["attempts"] == 2


def test_a_provider_error_reaches_the_client_and_is_recorded_as_failed(
    oai: Upstream, db: Database
) -> None:
    oai.fail_next(429, retry_after=7)
    with (
        RunningGateway({"fast": [openai_deployment(oai)]}, db, router={"retries": 0}) as gw,
        pytest.raises(openai.RateLimitError) as caught,
    ):
        openai_client(gw).chat.completions.create(
            model="fast", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.response.headers["retry-after"] == "7"
    [rec] = records(db)
    assert (rec["status"], rec["http_status"], rec["error_type"]) == ("error", 429, "http_429")
    assert rec["cost_nanos"] == 0


def test_a_stream_cut_mid_way_ends_with_an_error_event_and_is_recorded_failed(
    oai: Upstream, ant: Upstream, db: Database
) -> None:
    oai.cut_next_stream(after_events=2)
    ant.cut_next_stream(after_events=3)
    with RunningGateway(
        {"fast": [openai_deployment(oai)], "claude": [anthropic_deployment(ant)]}, db
    ) as gw:
        with pytest.raises(openai.APIError, match="upstream stream failed"):
            for _ in openai_client(gw).chat.completions.create(
                model="fast", messages=[{"role": "user", "content": "hi"}], stream=True
            ):
                pass
        with (
            pytest.raises(anthropic.APIError, match="upstream stream failed"),
            anthropic_client(gw).messages.stream(
                model="claude", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            ) as stream,
        ):
            stream.get_final_message()
    oai_rec, ant_rec = records(db)
    assert oai_rec["status"] == ant_rec["status"] == "error"
    assert oai_rec["error_type"] == ant_rec["error_type"] == "stream_interrupted"
    # The Anthropic stream had sent message_start: the input tokens seen are kept.
    assert ant_rec["input_tokens"] == 10


def test_a_client_that_leaves_cancels_the_upstream_call(oai: Upstream, db: Database) -> None:
    oai.first_byte_delay = 3.0  # the provider is slow to answer
    running = RunningGateway({"fast": [openai_deployment(oai)]}, db)
    # uvicorn's own logger (set up by the gateway's config just made; it does not
    # propagate): where an error that escaped the gateway is logged.
    errors = _ErrorLog()
    logging.getLogger("uvicorn.error").addHandler(errors)
    with running as gw:
        client = close_after_test(
            openai.OpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0, timeout=0.3)
        )
        with pytest.raises(openai.APITimeoutError):
            client.chat.completions.create(
                model="fast", messages=[{"role": "user", "content": "hi"}]
            )
    [rec] = records(db)
    assert (rec["error_type"], rec["http_status"]) == ("client_disconnected", 499)
    # Recorded when the client left, not when the provider would have answered.
    assert rec["duration_ms"] < 3000
    # A client leaving is an everyday event, not a server error with a traceback.
    logging.getLogger("uvicorn.error").removeHandler(errors)
    assert errors.messages == []


class _ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_client_that_leaves_after_the_last_event_has_its_answer(
    oai: Upstream, db: Database
) -> None:
    """The OpenAI SDK closes a stream as soon as it reads ``[DONE]``, without waiting for
    the body's end. When the provider is slow to end its body, that is not a client giving
    up: the call succeeded, is recorded as such, and its answer is cached."""
    oai.end_delay = 1.0
    cache = {"aliases": {"fast": "exact"}}
    ask = [{"role": "user", "content": "hi"}]
    with RunningGateway({"fast": [openai_deployment(oai)]}, db, cache=cache) as gw:
        client = openai_client(gw)
        for n, name in enumerate(("first", "repeat"), start=1):
            chunks = client.chat.completions.create(
                model="fast", messages=ask, stream=True, extra_headers={"x-tokenomy-session": name}
            )
            assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            # The SDK is gone; the gateway settles the call once the provider's body ends.
            deadline = time.monotonic() + 5
            while len(gw.app.gateway_state()["recent"]) < n:
                assert time.monotonic() < deadline, "the call never settled"
                time.sleep(0.02)
    got = {
        row[0]: row[1:]
        for row in db.query(
            "SELECT session_id, status, error_type, output_tokens, cache_hit FROM calls"
        )
    }
    assert got["first"][:2] == ("ok", None) and got["first"][2] > 0
    assert got["repeat"][3] == "exact"
    assert len(oai.seen) == 1


def test_a_provider_that_closes_after_the_timeout_but_sent_everything_is_a_success(
    sqlite_db: Database,
) -> None:
    """The last event (message_stop / [DONE]) arrived; only the body's end came after the
    deployment's timeout. Nothing was lost: no error event after the end (the Anthropic
    SDK raised on one), a success recorded, and the answer cached."""
    with anthropic_upstream() as up:
        up.end_delay = 2.0
        deployment = {**anthropic_deployment(up), "timeout": 0.5}
        cache = {"aliases": {"fast": "exact"}}
        with RunningGateway({"fast": [deployment]}, sqlite_db, cache=cache) as gw:
            texts = []
            for _ in range(2):
                a = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)
                with (
                    a,
                    a.messages.stream(
                        model="fast", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
                    ) as s,
                ):
                    texts.append("".join(s.text_stream))
    assert texts == ["Hello from mock", "Hello from mock"]
    rows = sqlite_db.query("SELECT status, error_type, cache_hit FROM calls ORDER BY started_at")
    assert [tuple(r) for r in rows] == [("ok", None, "none"), ("ok", None, "exact")]
    assert len(up.seen) == 1


def test_content_is_stored_only_with_capture_on(oai: Upstream, sqlite_db: Database) -> None:
    ask = [{"role": "user", "content": "what is 2+2?"}]
    with RunningGateway({"fast": [openai_deployment(oai)]}, sqlite_db) as gw:
        openai_client(gw).chat.completions.create(model="fast", messages=ask)
    assert sqlite_db.query("SELECT COUNT(*) FROM call_content")[0][0] == 0
    with RunningGateway({"fast": [openai_deployment(oai)]}, sqlite_db, capture_content=True) as gw:
        openai_client(gw).chat.completions.create(model="fast", messages=ask)
        list(openai_client(gw).chat.completions.create(model="fast", messages=ask, stream=True))
    rows = sqlite_db.query(
        "SELECT c.request, c.response, k.attributes FROM call_content c "
        "JOIN calls k ON k.source = c.source AND k.dedupe_key = c.dedupe_key "
        "ORDER BY k.started_at"
    )
    assert len(rows) == 2
    (plain_request, plain_response, _), (_, streamed, stream_attrs) = rows
    assert json.loads(plain_request)["messages"] == ask
    assert json.loads(plain_response)["choices"][0]["message"]["content"] == "Hello from mock"
    assert '"stream":true' in stream_attrs.replace(" ", "")
    assert streamed.count("data: ") >= 3 and "[DONE]" in streamed


def test_json_depth_limit_counts_containers_only() -> None:
    from tokenomy.gateway.request_json import deeper_than

    def nest(n: int) -> dict[str, object]:
        value: object = "leaf"
        for i in range(n - 1):
            value = [value] if i % 2 else {"k": value}
        return {"root": value}

    assert not deeper_than(nest(200), 200)
    assert deeper_than(nest(201), 200)
    assert not deeper_than({"messages": [{"content": "x" * 10_000}] * 1000}, 3)
