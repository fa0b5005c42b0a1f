"""The exact response cache end to end: the official SDKs through the gateway to emulated
providers, on each backend (in-process, SQLite, real Redis), and what it records."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from tests.gateway.running import RunningGateway, close_after_test
from tests.gateway.test_gateway import (
    anthropic_deployment,
    openai_deployment,
    records,
)
from tests.gateway.upstreams import Upstream, anthropic_upstream, openai_upstream

from tokenomy.api import queries
from tokenomy.api.params import parse_scope
from tokenomy.cache.keys import request_key
from tokenomy.gateway.config import GatewayConfigError, parse_config
from tokenomy.keys import KeyRing, KeyStore
from tokenomy.pricing import PriceCatalog
from tokenomy.store import Database

REDIS_URL = os.environ.get("TOKENOMY_TEST_REDIS_URL", "")
CATALOG = PriceCatalog.load(None)
HI = [{"role": "user", "content": "What is 2 + 2?"}]


def client(gw: RunningGateway, **headers: str) -> openai.OpenAI:
    return close_after_test(
        openai.OpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0, default_headers=headers)
    )


def ask(c: openai.OpenAI, **kw: Any) -> Any:
    return c.chat.completions.with_raw_response.create(model="fast", messages=HI, **kw)


def cached_gateway(up: Upstream, db: Database) -> RunningGateway:
    """A gateway whose one alias, `fast`, is the OpenAI emulator with the exact cache on."""
    return RunningGateway(
        {"fast": [openai_deployment(up)]}, db, cache={"aliases": {"fast": "exact"}}
    )


@contextlib.contextmanager
def provider_gateway(protocol: str, db: Database) -> Iterator[tuple[Upstream, RunningGateway]]:
    """An OpenAI or Anthropic emulator behind a gateway whose alias `fast` caches exactly."""
    upstream = openai_upstream() if protocol == "openai" else anthropic_upstream()
    with upstream as up:
        deployment = openai_deployment(up) if protocol == "openai" else anthropic_deployment(up)
        with RunningGateway({"fast": [deployment]}, db, cache={"aliases": {"fast": "exact"}}) as gw:
            yield up, gw


@pytest.fixture
def oai() -> Iterator[Upstream]:
    with openai_upstream() as up:
        yield up


def test_the_key_ignores_what_cannot_change_the_answer() -> None:
    base = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
    same = [
        {**base, "user": "ann", "metadata": {"a": 1}},
        {**base, "stream": False},
        {**base, "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
        dict(reversed(list(base.items()))),
    ]
    key = request_key("ns", "openai", "chat", base)
    assert all(request_key("ns", "openai", "chat", b) == key for b in same)
    different = [
        {**base, "temperature": 0.5},
        {**base, "stream": True},
        {**base, "tools": [{"type": "function", "function": {"name": "f"}}]},
        {**base, "messages": [{"role": "user", "content": "hi!"}]},
        {**base, "model": "n"},
    ]
    assert len({request_key("ns", "openai", "chat", b) for b in different} | {key}) == 6
    assert request_key("other", "openai", "chat", base) != key
    assert request_key("ns", "anthropic", "messages", base) != key


def test_a_repeat_is_answered_from_the_cache_and_recorded_at_no_cost(
    oai: Upstream, db: Database
) -> None:
    cache = {"aliases": {"fast": "exact"}}
    with RunningGateway({"fast": [openai_deployment(oai)]}, db, cache=cache) as gw:
        c = client(gw)
        first, second = ask(c, temperature=0), ask(c, temperature=0)
        assert first.headers["x-tokenomy-cache"] == "miss"
        assert second.headers["x-tokenomy-cache"] == "hit-exact"
        assert first.parse().model_dump() == second.parse().model_dump()
        assert len(oai.seen) == 1
        c.close()
    # Every record is written once the gateway has stopped. The summary counts the hit and
    # what it saved.
    summary = queries.summary(db, parse_scope({}), CATALOG)
    rows = records(db)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    hits = db.query("SELECT cache_hit, cost_nanos, input_tokens FROM calls ORDER BY started_at")
    assert [h[0] for h in hits] == ["none", "exact"]
    assert hits[1][1] == 0 and hits[1][2] == hits[0][2] > 0
    assert summary["cache"]["response_cache_hits"] == 1
    assert summary["cache"]["response_cache_savings_usd"] == pytest.approx(
        hits[0][1] / 1e9, rel=1e-6
    )


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_a_stream_is_replayed_as_the_same_stream(protocol: str, sqlite_db: Database) -> None:
    with provider_gateway(protocol, sqlite_db) as (up, gw):
        texts = []
        for _ in range(2):
            if protocol == "openai":
                with client(gw) as c:
                    stream = c.chat.completions.create(model="fast", messages=HI, stream=True)
                    texts.append(
                        "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
                    )
            else:
                a = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)
                with a, a.messages.stream(model="fast", max_tokens=10, messages=HI) as s:
                    texts.append("".join(s.text_stream))
        assert texts[0] == texts[1] == "Hello from mock"
        assert len(up.seen) == 1
    hits = sqlite_db.query("SELECT cache_hit, output_tokens FROM calls ORDER BY started_at")
    assert [h[0] for h in hits] == ["none", "exact"] and hits[0][1] == hits[1][1] > 0


def test_a_stream_with_usage_is_kept_apart_from_one_without(
    oai: Upstream, sqlite_db: Database
) -> None:
    # With include_usage the stream ends with a usage chunk (choices: []); without it the
    # gateway hides that chunk. A replay must give each client the stream it asked for.
    with cached_gateway(oai, sqlite_db) as gw:
        seen = []
        for usage in (False, True, True, False):
            options = {"stream_options": {"include_usage": True}} if usage else {}
            with client(gw) as c:
                chunks = list(
                    c.chat.completions.create(model="fast", messages=HI, stream=True, **options)
                )
            seen.append((usage, any(ch.usage for ch in chunks), all(ch.choices for ch in chunks)))
    assert seen == [
        (False, False, True),
        (True, True, False),
        (True, True, False),
        (False, False, True),
    ]
    assert len(oai.seen) == 2  # one per kind; the repeats were hits


def test_requests_opt_in_and_out_and_cache_control_is_honoured(
    oai: Upstream, sqlite_db: Database
) -> None:
    with RunningGateway({"fast": [openai_deployment(oai)]}, sqlite_db) as gw:
        c = client(gw)
        # Not opted in: no cache at all, and no header saying so.
        assert "x-tokenomy-cache" not in ask(c).headers
        assert "x-tokenomy-cache" not in ask(c).headers
        assert len(oai.seen) == 2
        on = client(gw, **{"x-tokenomy-cache": "exact"})
        assert ask(on).headers["x-tokenomy-cache"] == "miss"
        assert ask(on).headers["x-tokenomy-cache"] == "hit-exact"
        assert len(oai.seen) == 3
        # no-cache: asks the provider (and keeps the fresh answer).
        fresh = ask(on, extra_headers={"cache-control": "no-cache"})
        assert fresh.headers["x-tokenomy-cache"] == "bypass" and len(oai.seen) == 4
        # no-store: a new question asked this way is never kept.
        ask(on, temperature=1, extra_headers={"cache-control": "no-store"})
        ask(on, temperature=1, extra_headers={"cache-control": "no-store"})
        assert len(oai.seen) == 6
        with pytest.raises(openai.BadRequestError, match="x-tokenomy-cache must be one of"):
            ask(client(gw, **{"x-tokenomy-cache": "sometimes"}))
        c.close()
        on.close()


def test_an_alias_opted_in_can_still_be_refused_per_request(
    oai: Upstream, sqlite_db: Database
) -> None:
    with cached_gateway(oai, sqlite_db) as gw:
        off = client(gw, **{"x-tokenomy-cache": "off"})
        ask(off)
        ask(off)
        assert len(oai.seen) == 2
        off.close()


def test_failures_and_cut_streams_are_never_cached(oai: Upstream, sqlite_db: Database) -> None:
    with RunningGateway(
        {"fast": [openai_deployment(oai)]},
        sqlite_db,
        cache={"aliases": {"fast": "exact"}},
        router={"retries": 0},
    ) as gw:
        c = client(gw)
        oai.fail_next(500)
        with pytest.raises(openai.InternalServerError):
            ask(c)
        assert ask(c).headers["x-tokenomy-cache"] == "miss"  # the failure was not kept
        oai.cut_next_stream(2)
        with pytest.raises(openai.APIError):
            list(c.chat.completions.create(model="fast", messages=HI, stream=True))
        stream = c.chat.completions.create(model="fast", messages=HI, stream=True)
        assert "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
        assert len(oai.seen) == 4  # every one of them went to the provider
        c.close()


def test_tenants_never_share_entries_unless_configured(oai: Upstream, sqlite_db: Database) -> None:
    store = KeyStore(sqlite_db)
    ann, _ = store.create(project="web")
    bob, _ = store.create(project="web")
    for namespace, upstream_calls in (("key", 2), ("project", 1), ("shared", 1)):
        oai.reset()
        with RunningGateway(
            {"fast": [openai_deployment(oai)]},
            sqlite_db,
            cache={"aliases": {"fast": "exact"}, "namespace": namespace},
            load_keys=lambda: KeyRing.load(sqlite_db),
        ) as gw:
            for secret in (ann, bob):
                with openai.OpenAI(base_url=gw.url + "/v1", api_key=secret, max_retries=0) as c:
                    ask(c)
        assert len(oai.seen) == upstream_calls, namespace


def test_keys_without_a_project_are_tenants_and_a_header_opens_no_project(
    oai: Upstream, sqlite_db: Database
) -> None:
    store = KeyStore(sqlite_db)
    web, _ = store.create(project="web")
    ci, _ = store.create()
    intern, _ = store.create()
    with RunningGateway(
        {"fast": [openai_deployment(oai)]},
        sqlite_db,
        cache={"aliases": {"fast": "exact"}, "namespace": "project"},
        load_keys=lambda: KeyRing.load(sqlite_db),
    ) as gw:

        def cached(secret: str, **headers: str) -> str:
            with openai.OpenAI(
                base_url=gw.url + "/v1", api_key=secret, max_retries=0, default_headers=headers
            ) as c:
                return str(ask(c).headers["x-tokenomy-cache"])

        assert cached(web) == "miss"
        # Naming the project in a header attributes the call; it does not open web's entries.
        assert cached(intern, **{"x-tokenomy-project": "web"}) == "miss"
        assert cached(ci) == "miss"  # two keys without a project do not share either
        assert cached(intern) == "hit-exact"  # but a key sees its own entries
    assert len(oai.seen) == 3


def test_entries_expire_after_their_ttl(oai: Upstream, sqlite_db: Database) -> None:
    with RunningGateway(
        {"fast": [openai_deployment(oai)]},
        sqlite_db,
        cache={"aliases": {"fast": "exact"}, "ttl": 0.3},
    ) as gw:
        c = client(gw)
        ask(c)
        assert ask(c).headers["x-tokenomy-cache"] == "hit-exact"
        time.sleep(0.5)
        assert ask(c).headers["x-tokenomy-cache"] == "miss"
        c.close()


def test_the_sqlite_backend_survives_a_restart(
    oai: Upstream, sqlite_db: Database, tmp_path: Path
) -> None:
    cache = {"aliases": {"fast": "exact"}, "backend": "sqlite", "path": str(tmp_path / "c.db")}
    for expected in ("miss", "hit-exact"):
        gateway = RunningGateway({"fast": [openai_deployment(oai)]}, sqlite_db, cache=cache)
        with gateway as gw, client(gw) as c:
            assert ask(c).headers["x-tokenomy-cache"] == expected
    assert len(oai.seen) == 1


def test_replicas_share_entries_through_redis(oai: Upstream, sqlite_db: Database) -> None:
    if not REDIS_URL:
        pytest.skip("TOKENOMY_TEST_REDIS_URL is not set (Redis tests run in CI)")
    # A namespace of its own, so runs never see each other's entries.
    cache = {
        "aliases": {"fast": "exact"},
        "backend": "redis",
        "redis_url": REDIS_URL,
        "namespace": "project",
    }
    project = {"x-tokenomy-project": f"p-{uuid.uuid4().hex}"}
    deployment = {"fast": [openai_deployment(oai)]}
    with (
        RunningGateway(deployment, sqlite_db, cache=cache) as one,
        RunningGateway(deployment, sqlite_db, cache=cache) as two,
    ):
        with client(one, **project) as c:
            assert ask(c).headers["x-tokenomy-cache"] == "miss"
        with client(two, **project) as c:
            assert ask(c).headers["x-tokenomy-cache"] == "hit-exact"
    assert len(oai.seen) == 1


@pytest.mark.parametrize(
    ("cache", "message"),
    [
        ({"aliases": {"slow": "exact"}}, "cache.aliases.slow: no such model alias"),
        ({"aliases": {"fast": "always"}}, "cache.aliases.fast: expected one of"),
        ({"backend": "memcached"}, "cache.backend: expected one of"),
        ({"backend": "redis"}, "cache.redis_url: the redis backend needs redis_url"),
        (
            {"backend": "redis", "redis_url": "127.0.0.1:6379/12"},
            "cache.redis_url: expected redis://host:port/db, got '127.0.0.1:6379/12'",
        ),
        ({"ttl": 0}, "cache.ttl: expected a positive number"),
        ({"namespace": "everyone"}, "cache.namespace: expected one of"),
        ({"size": 1}, "cache.size: unknown key"),
        ({"semantic": {"path": 5}}, "cache.semantic.path: expected a folder path"),
        (
            {"semantic": {"embedder": {"base_url": "http://x", "model": "m", "api_key_env": 1}}},
            "cache.semantic.embedder.api_key_env: expected an environment variable's name",
        ),
    ],
)
def test_a_bad_cache_section_names_the_key_and_the_file(
    cache: dict[str, Any], message: str
) -> None:
    raw = {"models": {"fast": [{"provider": "openai", "model": "m"}]}, "cache": cache}
    with pytest.raises(GatewayConfigError) as err:
        parse_config(raw, Path("tokenomy.yaml"), {})
    assert str(err.value).startswith("tokenomy.yaml: ") and message in str(err.value)


def test_the_in_process_sdk_client_caches_too(oai: Upstream, sqlite_db: Database) -> None:
    """``tokenomy.Client`` is the gateway in-process, so its config's cache applies."""
    import tokenomy
    from tokenomy.gateway.recorder import Recorder
    from tokenomy.store import BatchWriter

    raw = {"models": {"fast": [openai_deployment(oai)]}, "cache": {"aliases": {"fast": "exact"}}}
    config = parse_config(raw, Path("tokenomy.yaml"), {})
    recorder = Recorder(BatchWriter(sqlite_db, flush_interval=0.05), CATALOG)
    with tokenomy.Client(config, recorder=recorder) as tc, tc.openai(max_retries=0) as c:
        answers = [ask(c) for _ in range(3)]
    assert [a.headers["x-tokenomy-cache"] for a in answers] == ["miss", "hit-exact", "hit-exact"]
    assert len(oai.seen) == 1
    rows = sqlite_db.query("SELECT source, cache_hit FROM calls ORDER BY started_at")
    assert rows == [("sdk", "none"), ("sdk", "exact"), ("sdk", "exact")]


def test_a_repeat_sent_the_moment_a_stream_ends_hits_though_the_provider_ends_late(
    oai: Upstream, sqlite_db: Database
) -> None:
    """The cache entry (and the budget's settlement) are done before the answer's last
    event goes out, not when the provider gets round to ending its body."""
    oai.end_delay = 3.0
    with cached_gateway(oai, sqlite_db) as gw:
        c = client(gw)
        started = time.monotonic()
        first = c.chat.completions.create(model="fast", messages=HI, stream=True)
        assert "".join(ch.choices[0].delta.content or "" for ch in first if ch.choices)
        assert time.monotonic() - started < 2.0  # the client had its answer at once
        repeat = c.chat.completions.with_raw_response.create(model="fast", messages=HI, stream=True)
        assert repeat.headers["x-tokenomy-cache"] == "hit-exact"
        assert len(oai.seen) == 1


def test_streams_end_at_their_last_event_and_keep_the_provider_connection(
    oai: Upstream, sqlite_db: Database
) -> None:
    """Ending the client's answer at [DONE] must not cost a new connection to the provider
    for the next request (a TLS handshake each time): the end of body is still read."""
    oai.end_delay = 0.2  # the provider ends its body a little after its last event
    with RunningGateway({"fast": [openai_deployment(oai)]}, sqlite_db) as gw:
        c = client(gw)
        for question in ("one", "two", "three"):
            stream = c.chat.completions.create(
                model="fast", messages=[{"role": "user", "content": question}], stream=True
            )
            assert "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
            time.sleep(0.5)  # the end of body has come: the connection is free again
    assert len({seen.peer for seen in oai.seen}) == 1


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_stream_with_an_event_that_is_not_json_is_failed_and_never_cached(
    provider: str, sqlite_db: Database
) -> None:
    """Relayed as it came to a client of the same protocol (its SDK decides), ended with an
    error event where it is being translated (an OpenAI client of an Anthropic deployment:
    never a silently shortened answer); recorded as failed, so never replayed."""
    with provider_gateway(provider, sqlite_db) as (up, gw):
        c = client(gw)
        up.garble_next_stream(2)
        with pytest.raises((ValueError, openai.APIError)):
            list(c.chat.completions.create(model="fast", messages=HI, stream=True))
        again = c.chat.completions.create(model="fast", messages=HI, stream=True)
        assert "".join(ch.choices[0].delta.content or "" for ch in again if ch.choices) == (
            "Hello from mock"
        )
        assert len(up.seen) == 2  # the broken stream was not kept
    rows = sqlite_db.query("SELECT status, error_type, cache_hit FROM calls ORDER BY started_at")
    assert [tuple(r) for r in rows] == [("error", "malformed_stream", "none"), ("ok", None, "none")]
