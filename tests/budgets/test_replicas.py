"""The requirement: two real `tokenomy serve` processes sharing Redis and one PostgreSQL
database hold a key's budget under concurrent load, within the documented bound, and the
shared ledger agrees with the recorded calls to the nano-dollar."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import redis
import yaml
from tests.budgets.replicas import hammer
from tests.gateway.serve_process import free_port, start_serve, stop
from tests.gateway.test_gateway import openai_deployment
from tests.gateway.upstreams import openai_upstream

from tokenomy.budgets import Claim, key_budget, window
from tokenomy.keys import KeyStore
from tokenomy.pricing import PriceCatalog
from tokenomy.record import TokenUsage
from tokenomy.store import Database

CATALOG = PriceCatalog.load(None)
CLIENTS = 16
# max_tokens=1 makes every estimate LOW (the emulated answer has 5 output tokens), so the
# overspend bound is not zero and is really tested: at most CLIENTS x (actual - estimate).
MAX_TOKENS = 1


def test_two_replicas_hold_a_key_budget_within_the_in_flight_bound(
    tmp_path: Path, postgres_db: Database, redis_url: str
) -> None:
    secret, key = KeyStore(postgres_db).create(budget_usd=Decimal("0.05"), budget_period="daily")
    budget = key_budget(key)
    assert budget is not None
    now_ms = int(time.time() * 1000)
    # o1's prices make each emulated call cost $0.00045: about 110 calls for $0.05.
    actual = CATALOG.cost_nanos(
        "openai", "o1", TokenUsage(input_tokens=8, cache_read_tokens=4, output_tokens=5), now_ms
    )
    estimate = CATALOG.cost_nanos(
        "openai", "o1", TokenUsage(input_tokens=12, output_tokens=MAX_TOKENS), now_ms
    )
    assert actual is not None and estimate is not None and actual > estimate
    bound = CLIENTS * (actual - estimate)
    ledger_key = Claim(budget, window(budget.period, budget.zone)).key
    with openai_upstream() as up:
        config = tmp_path / "tokenomy.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "models": {"fast": [openai_deployment(up, "o1")]},
                    "budgets": {"redis_url": redis_url},
                }
            )
        )
        env = {"TOKENOMY_HOME": str(tmp_path / "home"), "TOKENOMY_DB": postgres_db.url}
        ports = [free_port(), free_port()]
        procs = [start_serve(config, port, env, tmp_path / "serve.log") for port in ports]
        try:
            tally = hammer(ports, secret, CLIENTS, MAX_TOKENS)
        finally:
            for proc in procs:
                stop(proc)
    client = redis.Redis.from_url(redis_url)
    try:
        spent_text, reserved_text = client.hmget(ledger_key, "spent", "reserved")
        client.delete(ledger_key)
    finally:
        client.close()
    assert tally.errors == []
    assert tally.refused == CLIENTS and all(n > 0 for n in tally.served_by_port.values())
    rows = postgres_db.query(
        "SELECT status, error_type, cost_nanos FROM calls WHERE api_key_id = ?", (key.id,)
    )
    served = [r for r in rows if r[0] == "ok"]
    refused = [r for r in rows if r[1] == "budget_exceeded"]
    assert (len(served), len(refused)) == (tally.served, tally.refused + tally.held)
    recorded = sum(r[2] for r in rows)
    assert recorded == tally.served * actual
    # The ledger both replicas shared agrees with the records to the nano-dollar.
    assert isinstance(spent_text, bytes) and isinstance(reserved_text, bytes)
    assert (int(spent_text), int(reserved_text)) == (recorded, 0)
    limit = budget.limit_nanos
    assert recorded <= limit + bound, (recorded - limit, bound)
    # And the budget was used up: every client's last refusal saw spent + estimate > limit.
    assert recorded > limit - estimate
