"""Reliability end to end: retries honouring Retry-After, fallback aliases, circuit breakers,
rate limits, first-byte timeouts, and virtual keys, through a real uvicorn."""

from __future__ import annotations

import time
from typing import Any

import anthropic
import openai
import pytest
from tests.gateway.running import RunningGateway
from tests.gateway.test_gateway import (
    UPSTREAM_KEY,
    anthropic_client,
    anthropic_deployment,
    openai_client,
    openai_deployment,
    raw_http,
    records,
)
from tests.gateway.upstreams import Upstream, openai_upstream

from tokenomy.keys import KeyRing, KeyStore
from tokenomy.store import Database

HI = [{"role": "user", "content": "hi"}]


def ask(gw: RunningGateway, model: str = "fast", **headers: str) -> Any:
    with openai_client(gw, **headers) as client:  # closed: no socket left for the GC
        return client.chat.completions.create(model=model, messages=HI)


def test_a_429_is_retried_after_the_time_the_provider_asked_for(
    oai: Upstream, sqlite_db: Database
) -> None:
    oai.fail_next(429, retry_after=1)
    with RunningGateway({"fast": [openai_deployment(oai)]}, sqlite_db, router={"backoff": 0}) as gw:
        started = time.monotonic()
        reply = ask(gw)
        waited = time.monotonic() - started
    assert reply.choices[0].message.content == "Hello from mock"
    assert len(oai.seen) == 2
    assert waited >= 1.0  # it did not come back before Retry-After said it could
    [rec] = records(sqlite_db)
    assert (rec["status"], rec["http_status"]) == ("ok", 200)
    assert rec["attributes"]["attempts"] == 2


def test_a_retry_after_beyond_the_limit_is_not_waited_for(
    oai: Upstream, sqlite_db: Database
) -> None:
    oai.fail_next(429, retry_after=120)
    with (
        RunningGateway({"fast": [openai_deployment(oai)]}, sqlite_db) as gw,
        pytest.raises(openai.RateLimitError) as caught,
    ):
        ask(gw)
    assert caught.value.response.headers["retry-after"] == "120"
    assert len(oai.seen) == 1


def test_5xx_is_retried_with_backoff_until_the_retries_run_out(
    oai: Upstream, sqlite_db: Database
) -> None:
    oai.fail_next(503, times=2)
    with RunningGateway(
        {"fast": [openai_deployment(oai)]}, sqlite_db, router={"retries": 2, "backoff": 0.01}
    ) as gw:
        assert ask(gw).choices[0].message.content == "Hello from mock"
        oai.fail_next(503, times=5)
        with pytest.raises(openai.InternalServerError):
            ask(gw)
    assert len(oai.seen) == 3 + 3  # one try and two retries, each time
    ok, failed = records(sqlite_db)
    assert ok["status"] == "ok" and ok["attributes"]["attempts"] == 3
    assert (failed["status"], failed["http_status"]) == ("error", 503)


def test_a_client_error_is_not_retried(oai: Upstream, sqlite_db: Database) -> None:
    oai.fail_next(400)
    with (
        RunningGateway({"fast": [openai_deployment(oai)]}, sqlite_db) as gw,
        pytest.raises(openai.BadRequestError),
    ):
        ask(gw)
    assert len(oai.seen) == 1


def test_fallback_alias_after_every_deployment_failed(
    oai: Upstream, ant: Upstream, db: Database
) -> None:
    oai.fail_next(503, times=10)
    with RunningGateway(
        {"fast": [openai_deployment(oai)], "claude": [anthropic_deployment(ant)]},
        db,
        fallbacks={"fast": ["claude"]},
        router={"retries": 0},
    ) as gw:
        reply = ask(gw)
    # An OpenAI client, answered by the Anthropic fallback through translation.
    assert reply.choices[0].message.content == "Hello from mock"
    assert reply.model == "fast"
    assert len(oai.seen) == 1 and len(ant.seen) == 1
    [rec] = records(db)
    assert (rec["status"], rec["provider"], rec["request_model"]) == ("ok", "anthropic", "claude")
    assert rec["attributes"]["fallback"] == "claude" and rec["attributes"]["attempts"] == 2
    routed = db.query("SELECT routed_from, route_policy FROM calls")
    assert [tuple(r) for r in routed] == [("fast", "fallback")]


def test_a_failing_deployment_is_left_alone_once_its_circuit_opens(
    oai: Upstream, sqlite_db: Database
) -> None:
    with openai_upstream() as healthy:
        oai.fail_next(500, times=100)
        with RunningGateway(
            {"fast": [openai_deployment(oai), openai_deployment(healthy)]},
            sqlite_db,
            router={"retries": 0, "failure_threshold": 2, "cooldown": 60},
        ) as gw:
            for _ in range(5):
                assert ask(gw).choices[0].message.content == "Hello from mock"
        assert len(oai.seen) == 2  # two failures opened the circuit; then it was skipped
        assert len(healthy.seen) == 5


def test_rpm_limit_answers_429_with_retry_after_in_the_client_protocol(
    oai: Upstream, sqlite_db: Database
) -> None:
    deployment = {**openai_deployment(oai), "rpm": 2}
    with RunningGateway({"fast": [deployment], "claude": [deployment]}, sqlite_db) as gw:
        ask(gw)
        ask(gw)
        with pytest.raises(openai.RateLimitError, match="rate limit reached") as caught:
            ask(gw)
        with (
            anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0) as client,
            pytest.raises(anthropic.RateLimitError, match="2 rpm reached"),
        ):
            client.messages.create(model="claude", max_tokens=5, messages=HI)
    assert 1 <= int(caught.value.response.headers["retry-after"]) <= 60
    assert len(oai.seen) == 2
    refused = [r for r in records(sqlite_db) if r["status"] == "error"]
    assert [r["error_type"] for r in refused] == ["rate_limit_exceeded"] * 2


def test_a_slow_first_byte_moves_on_to_the_next_deployment(
    oai: Upstream, sqlite_db: Database
) -> None:
    with openai_upstream() as quick:
        oai.first_byte_delay = 3.0
        slow = {**openai_deployment(oai), "first_byte_timeout": 0.3}
        with RunningGateway(
            {"fast": [slow, openai_deployment(quick)]}, sqlite_db, router={"retries": 0}
        ) as gw:
            assert ask(gw).choices[0].message.content == "Hello from mock"
        assert len(quick.seen) == 1
    [rec] = records(sqlite_db)
    assert rec["status"] == "ok" and rec["attributes"]["attempts"] == 2


def test_virtual_keys_authenticate_and_attribute(oai: Upstream, db: Database) -> None:
    store = KeyStore(db)
    secret, info = store.create(project="payments", user="ana")
    with RunningGateway(
        {"fast": [openai_deployment(oai)]}, db, load_keys=lambda: KeyRing.load(db)
    ) as gw:
        with pytest.raises(openai.AuthenticationError, match="invalid or revoked"):
            ask(gw)  # the client's own key is not a tokenomy key
        with openai.OpenAI(base_url=gw.url + "/v1", api_key=secret, max_retries=0) as keyed:
            reply = keyed.chat.completions.create(
                model="fast", messages=HI, extra_headers={"x-tokenomy-project": "other"}
            )
            assert reply.choices[0].message.content == "Hello from mock"
            store.revoke(info.id)
            with pytest.raises(openai.AuthenticationError):
                # A key revoked since the last refresh is refused after the next one.
                gw.app._keys = KeyRing.load(db)
                keyed.chat.completions.create(model="fast", messages=HI)
    assert len(oai.seen) == 1
    assert oai.seen[0].headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    [rec] = records(db)
    assert (rec["project"], rec["user"]) == ("payments", "ana")  # the key wins over headers
    assert [r[0] for r in db.query("SELECT api_key_id FROM calls")] == [info.id]


def test_a_key_created_just_after_a_reload_works_at_once(
    oai: Upstream, sqlite_db: Database
) -> None:
    # It used to get a 401 when the keys had been read less than a second before (by the
    # periodic refresh, or another unknown key), and the SDKs do not retry a 401.
    store = KeyStore(sqlite_db)
    store.create(project="web")
    with RunningGateway(
        {"fast": [openai_deployment(oai)]}, sqlite_db, load_keys=lambda: KeyRing.load(sqlite_db)
    ) as gw:
        for _ in range(3):
            secret, _info = store.create()
            with openai.OpenAI(base_url=gw.url + "/v1", api_key=secret, max_retries=0) as c:
                reply = c.chat.completions.create(model="fast", messages=HI)
            assert reply.choices[0].message.content == "Hello from mock"
        with pytest.raises(openai.AuthenticationError, match="invalid or revoked"):
            ask(gw)  # and a key that does not exist is still refused
        # In the endpoint's own error shape, even from a client that sends no
        # anthropic-version header (it used to be OpenAI's).
        refused = raw_http("POST", gw.url + "/v1/messages", b'{"model": "fast"}')
    assert refused.status_code == 401
    assert refused.json()["type"] == "error"
    assert refused.json()["error"]["type"] == "authentication_error"


def test_a_body_cut_off_before_the_client_saw_anything_is_retried(
    oai: Upstream, sqlite_db: Database
) -> None:
    oai.cut_next_body()
    with RunningGateway(
        {"fast": [openai_deployment(oai)]}, sqlite_db, router={"retries": 1, "backoff": 0}
    ) as gw:
        reply = ask(gw)
    assert reply.choices[0].message.content == "Hello from mock"
    assert len(oai.seen) == 2
    [rec] = records(sqlite_db)
    assert (rec["status"], rec["http_status"]) == ("ok", 200)
    assert rec["attributes"]["attempts"] == 2


@pytest.mark.parametrize("status", [None, 500])
def test_a_body_cut_off_every_time_is_a_502_in_the_clients_shape(
    oai: Upstream, ant: Upstream, sqlite_db: Database, status: int | None
) -> None:
    oai.cut_next_body(times=2, status=status)
    ant.cut_next_body(times=2, status=status)
    deployments = {"fast": [openai_deployment(oai)], "claude": [anthropic_deployment(ant)]}
    with RunningGateway(deployments, sqlite_db, router={"retries": 1, "backoff": 0}) as gw:
        with pytest.raises(openai.APIStatusError) as oai_caught:
            ask(gw)
        with pytest.raises(anthropic.APIStatusError) as ant_caught:
            anthropic_client(gw).messages.create(model="claude", max_tokens=10, messages=HI)
    for caught in (oai_caught.value, ant_caught.value):
        assert caught.status_code == 502
        assert "connection failed" in caught.message
    assert oai_caught.value.body["type"] == "server_error"  # type: ignore[index]
    assert ant_caught.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    assert len(oai.seen) == 2 and len(ant.seen) == 2  # one try and one retry each
    rows = records(sqlite_db)
    assert [(r["status"], r["error_type"], r["http_status"]) for r in rows] == [
        ("error", "connection_error", 502)
    ] * 2
    assert all(r["attributes"]["attempts"] == 2 for r in rows)


def test_a_body_stalled_past_the_timeout_is_a_504(oai: Upstream, sqlite_db: Database) -> None:
    oai.cut_next_body(stall=5)
    deployment = {**openai_deployment(oai), "timeout": 0.5}
    with (
        RunningGateway({"fast": [deployment]}, sqlite_db, router={"retries": 0}) as gw,
        pytest.raises(openai.APIStatusError) as caught,
    ):
        ask(gw)
    assert caught.value.status_code == 504
    [rec] = records(sqlite_db)
    assert (rec["status"], rec["error_type"], rec["http_status"]) == ("error", "timeout", 504)
