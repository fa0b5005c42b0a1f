"""Budgets through the gateway, with the official SDKs against emulated providers: key
budgets refused in each protocol's error shape, soft thresholds, cache hits not counted,
spend seeded from the database, and every way a call can end settled."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import anthropic
import openai
import pytest
from tests.budgets.helpers import balance, budgeted, settled
from tests.gateway.running import close_after_test
from tests.gateway.test_gateway import anthropic_deployment, openai_deployment, records
from tests.gateway.upstreams import Upstream, anthropic_upstream, openai_upstream

from tokenomy.budgets import BudgetAlert, key_budget
from tokenomy.keys import KeyInfo, KeyRing, KeyStore
from tokenomy.pricing import PriceCatalog
from tokenomy.record import TokenUsage
from tokenomy.store import Database

CATALOG = PriceCatalog.load(None)
NOW_MS = int(time.time() * 1000)
HI: Any = [{"role": "user", "content": "hi"}]
# What the emulated OpenAI call costs (12 prompt tokens, 4 of them cached, 5 out).
CALL = CATALOG.cost_nanos(
    "openai",
    "gpt-4o-mini",
    TokenUsage(input_tokens=8, cache_read_tokens=4, output_tokens=5),
    NOW_MS,
)
# What the gateway reserves for one `HI` with max_tokens=10: 17 characters -> 5 tokens,
# plus 4 for the message and 3 for the reply = 12 in; 10 out.
ESTIMATE = CATALOG.cost_nanos(
    "openai", "gpt-4o-mini", TokenUsage(input_tokens=12, output_tokens=10), NOW_MS
)


@pytest.fixture
def oai() -> Iterator[Upstream]:
    with openai_upstream() as up:
        yield up


@pytest.fixture
def ant() -> Iterator[Upstream]:
    with anthropic_upstream() as up:
        yield up


def keyed(db: Database, usd: str, period: str = "daily", **kw: Any) -> tuple[str, KeyInfo]:
    return KeyStore(db).create(budget_usd=Decimal(usd), budget_period=period, **kw)


def oai_client(url: str, secret: str, **headers: str) -> openai.OpenAI:
    return close_after_test(
        openai.OpenAI(base_url=url + "/v1", api_key=secret, max_retries=0, default_headers=headers)
    )


def ask(client: openai.OpenAI, **kw: Any) -> Any:
    return client.chat.completions.create(model="fast", messages=HI, max_tokens=10, **kw)


def next_utc_midnight() -> datetime:
    today = datetime.now(UTC).date()
    return datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


def test_a_key_budget_refuses_with_429_naming_it_and_when_it_resets(
    oai: Upstream, db: Database, redis_url: str
) -> None:
    assert CALL is not None and ESTIMATE is not None and ESTIMATE > CALL
    # Room for three calls: the fourth's reservation would pass the limit.
    limit = 3 * CALL + ESTIMATE - 1
    secret, key = keyed(db, str(Decimal(limit) / 10**9))
    budget = key_budget(key)
    assert budget is not None
    with budgeted(
        {"fast": [openai_deployment(oai)]},
        db,
        {"redis_url": redis_url},
        load_keys=lambda: KeyRing.load(db),
    ) as gw:
        client = oai_client(gw.url, secret)
        for n in range(1, 4):
            ask(client)
            assert settled(gw, budget) == (n * CALL, 0)
        with pytest.raises(openai.RateLimitError) as refused:
            ask(client)
        assert settled(gw, budget) == (3 * CALL, 0)
    error = refused.value
    assert error.code == "budget_exceeded"
    message = str(error.message)
    assert f"the budget of key {key.id}" in message
    assert f"{Decimal(limit) / 10**9:f}".rstrip("0") in message and "daily limit" in message
    assert "$0.0000135" in message  # 3 x $0.0000045 spent
    assert f"resets at {next_utc_midnight().isoformat()} (UTC)" in message
    retry_after = int(error.response.headers["retry-after"])
    expected = (next_utc_midnight() - datetime.now(UTC)).total_seconds()
    assert abs(retry_after - expected) < 120
    assert error.response.headers["x-should-retry"] == "false"
    assert len(oai.seen) == 3  # the refused call never reached the provider
    rows = records(db)
    assert [r["status"] for r in rows] == ["ok", "ok", "ok", "error"]
    last = rows[-1]
    assert (last["error_type"], last["http_status"], last["cost_nanos"]) == (
        "budget_exceeded",
        429,
        0,
    )
    assert last["attributes"]["budget"] == f"key:{key.id}"
    assert sum(r["cost_nanos"] for r in rows) == 3 * CALL


def test_the_anthropic_sdk_gets_the_anthropic_error_shape(
    ant: Upstream, sqlite_db: Database
) -> None:
    secret, key = keyed(sqlite_db, "0.0001")  # less than one estimate of this request
    with budgeted(
        {"claude": [anthropic_deployment(ant)]},
        sqlite_db,
        {},
        load_keys=lambda: KeyRing.load(sqlite_db),
    ) as gw:
        client = anthropic.Anthropic(base_url=gw.url, api_key=secret, max_retries=0)
        with pytest.raises(anthropic.RateLimitError) as refused:
            client.messages.create(model="claude", max_tokens=64, messages=HI)
    body = refused.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "rate_limit_error"
    assert f"the budget of key {key.id}" in body["error"]["message"]
    assert "this request alone could cost up to" in body["error"]["message"]
    assert "lower max_tokens" in body["error"]["message"]
    assert ant.seen == []


def test_a_soft_budget_never_refuses_and_alerts_once_per_threshold(
    oai: Upstream, sqlite_db: Database, redis_url: str, tag: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert CALL is not None
    name = f"web-soft-{tag}"
    rule = {
        "name": name,
        "project": "web",
        "mode": "soft",
        "period": "monthly",
        "limit_usd": str(Decimal(2 * CALL) / 10**9),
        "alert_at": [0.5, 1.0],
    }
    seen: list[BudgetAlert] = []
    with budgeted(
        {"fast": [openai_deployment(oai)]}, sqlite_db, {"redis_url": redis_url, "rules": [rule]}
    ) as gw:
        gw.app.budgets.alert_hooks.append(seen.append)
        client = oai_client(gw.url, "k", **{"x-tokenomy-project": "web"})
        budget = gw.app.budgets.settings.rules[0]
        with caplog.at_level(logging.WARNING, logger="tokenomy.budgets"):
            for _ in range(4):  # twice the limit: still served
                ask(client)
                settled(gw, budget)
            ask(oai_client(gw.url, "k", **{"x-tokenomy-project": "other"}))
    assert [(a.permille, a.spent_nanos) for a in seen] == [(500, CALL), (1000, 2 * CALL)]
    warnings = [r.getMessage() for r in caplog.records if r.name == "tokenomy.budgets"]
    assert len(warnings) == 2
    assert f"budget '{name}' (project web) reached 50% of its" in warnings[0]
    assert "reached 100%" in warnings[1] and "(soft;" in warnings[1]
    assert [r["status"] for r in records(sqlite_db)] == ["ok"] * 5


def test_a_cache_hit_reserves_and_spends_nothing(
    oai: Upstream, sqlite_db: Database, redis_url: str
) -> None:
    secret, key = keyed(sqlite_db, "1")
    budget = key_budget(key)
    assert budget is not None
    with budgeted(
        {"fast": [openai_deployment(oai)]},
        sqlite_db,
        {"redis_url": redis_url},
        cache={"aliases": {"fast": "exact"}},
        load_keys=lambda: KeyRing.load(sqlite_db),
    ) as gw:
        client = oai_client(gw.url, secret)
        first = client.chat.completions.with_raw_response.create(
            model="fast", messages=HI, max_tokens=10, temperature=0
        )
        assert settled(gw, budget) == (CALL, 0)
        second = client.chat.completions.with_raw_response.create(
            model="fast", messages=HI, max_tokens=10, temperature=0
        )
        assert second.headers["x-tokenomy-cache"] == "hit-exact"
        assert first.headers["x-tokenomy-cache"] == "miss"
        assert settled(gw, budget) == (CALL, 0)
    assert len(oai.seen) == 1


def test_a_restart_seeds_the_period_from_the_database(oai: Upstream, db: Database) -> None:
    """Without Redis the ledger lives in the process: a new process reads the spend so far
    from the recorded calls instead of starting from zero."""
    assert CALL is not None and ESTIMATE is not None
    secret, key = keyed(db, str(Decimal(3 * CALL + ESTIMATE - 1) / 10**9), period="monthly")
    budget = key_budget(key)
    assert budget is not None
    models = {"fast": [openai_deployment(oai)]}
    with budgeted(models, db, {}, load_keys=lambda: KeyRing.load(db)) as gw:
        client = oai_client(gw.url, secret)
        ask(client)
        ask(client)
    with budgeted(models, db, {}, load_keys=lambda: KeyRing.load(db)) as gw:
        client = oai_client(gw.url, secret)
        ask(client)
        assert settled(gw, budget) == (3 * CALL, 0)
        with pytest.raises(openai.RateLimitError, match="Budget exceeded"):
            ask(client)


def test_an_org_budget_from_the_header_and_the_org_is_recorded(
    oai: Upstream, db: Database, tag: str
) -> None:
    rule = {"name": f"acme-{tag}", "org": "acme", "limit_usd": "0.00001"}
    with budgeted({"fast": [openai_deployment(oai)]}, db, {"rules": [rule]}) as gw:
        acme = oai_client(gw.url, "k", **{"x-tokenomy-org": "acme"})
        ask(acme)
        settled(gw, gw.app.budgets.settings.rules[0])
        with pytest.raises(openai.RateLimitError) as refused:
            ask(acme)
        ask(oai_client(gw.url, "k", **{"x-tokenomy-org": "globex"}))  # another org: free
    assert f"budget 'acme-{tag}' (org acme)" in str(refused.value.message)
    orgs = [r[0] for r in db.query("SELECT org FROM calls ORDER BY started_at")]
    assert orgs == ["acme", "acme", "globex"]
    assert all("x-tokenomy-org" not in seen.headers for seen in oai.seen)


def test_a_call_that_fails_before_any_tokens_releases_its_reservation(
    oai: Upstream, sqlite_db: Database, redis_url: str
) -> None:
    secret, key = keyed(sqlite_db, "1")
    budget = key_budget(key)
    assert budget is not None
    with budgeted(
        {"fast": [openai_deployment(oai)]},
        sqlite_db,
        {"redis_url": redis_url},
        load_keys=lambda: KeyRing.load(sqlite_db),
    ) as gw:
        oai.fail_next(400)
        with pytest.raises(openai.BadRequestError):
            ask(oai_client(gw.url, secret))
        assert settled(gw, budget) == (0, 0)


def test_a_client_that_disconnects_still_settles(
    oai: Upstream, sqlite_db: Database, redis_url: str
) -> None:
    secret, key = keyed(sqlite_db, "1")
    budget = key_budget(key)
    assert budget is not None
    oai.first_byte_delay = 2.0
    with budgeted(
        {"fast": [openai_deployment(oai)]},
        sqlite_db,
        {"redis_url": redis_url},
        load_keys=lambda: KeyRing.load(sqlite_db),
    ) as gw:
        port = int(gw.url.rsplit(":", 1)[1])
        body = (
            b'{"model": "fast", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}'
        )
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\n"
                + f"Authorization: Bearer {secret}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            deadline = time.monotonic() + 10
            while balance(gw, budget) in (None, (0, 0)) and time.monotonic() < deadline:
                time.sleep(0.01)  # until the reservation is made
            reserved = balance(gw, budget)
        assert reserved is not None and reserved[1] > 0
        assert settled(gw, budget) == (0, 0)  # left before any tokens: nothing spent
    [rec] = records(sqlite_db)
    assert rec["error_type"] == "client_disconnected"
