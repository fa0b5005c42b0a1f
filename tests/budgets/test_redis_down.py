"""An unreachable Redis: `open` serves and says so at ERROR, rate-limited, with a count;
`closed` answers 503 in the client's protocol. Settlements made while the ledger is away
are applied when it answers again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import anthropic
import openai
import pytest
from tests.budgets.conftest import UNREACHABLE_REDIS
from tests.budgets.helpers import budgeted
from tests.gateway.running import CATALOG, close_after_test
from tests.gateway.test_gateway import anthropic_deployment, openai_deployment, records
from tests.gateway.upstreams import Upstream, anthropic_upstream, openai_upstream

from tokenomy.budgets import (
    Budget,
    BudgetSettings,
    Claim,
    Crossing,
    LedgerUnavailableError,
    MemoryLedger,
    Scope,
    Settlement,
    window,
)
from tokenomy.gateway.budget_guard import BudgetGuard, Ticket
from tokenomy.gateway.recorder import CallTrace
from tokenomy.store import Database

HI: Any = [{"role": "user", "content": "hi"}]
RULE = {"name": "everything", "limit_usd": 100}


@pytest.fixture
def oai() -> Iterator[Upstream]:
    with openai_upstream() as up:
        yield up


def test_fail_open_serves_and_logs_loudly_once_per_interval(
    oai: Upstream, sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    budgets = {"redis_url": UNREACHABLE_REDIS, "on_redis_error": "open", "rules": [RULE]}
    with (
        caplog.at_level(logging.ERROR, logger="tokenomy.budgets"),
        budgeted({"fast": [openai_deployment(oai)]}, sqlite_db, budgets) as gw,
    ):
        client = close_after_test(
            openai.OpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0)
        )
        for _ in range(3):
            client.chat.completions.create(model="fast", messages=HI)
    errors = [r for r in caplog.records if r.name == "tokenomy.budgets"]
    # The first failure is reported at once, the next two fall inside the 10 s interval;
    # at shutdown, the settlements still waiting for the ledger are counted.
    assert [r.levelno for r in errors] == [logging.ERROR, logging.ERROR]
    text = errors[0].getMessage()
    assert "redis://127.0.0.1:1/0" in text and "unreachable" in text
    assert "1 call(s) served WITHOUT budget checks (budgets.on_redis_error: open)" in text
    assert "3 settlements could not be written" in errors[1].getMessage()
    rows = records(sqlite_db)
    assert [r["status"] for r in rows] == ["ok"] * 3
    assert rows[0]["attributes"]["budgets"] == "unchecked"


def test_fail_closed_answers_503_in_each_protocol(sqlite_db: Database) -> None:
    budgets = {"redis_url": UNREACHABLE_REDIS, "on_redis_error": "closed", "rules": [RULE]}
    with (
        openai_upstream() as oai,
        anthropic_upstream() as ant,
        budgeted(
            {"fast": [openai_deployment(oai)], "claude": [anthropic_deployment(ant)]},
            sqlite_db,
            budgets,
        ) as gw,
    ):
        client = close_after_test(
            openai.OpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0)
        )
        with pytest.raises(openai.InternalServerError) as from_openai:
            client.chat.completions.create(model="fast", messages=HI)
        claude = close_after_test(anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0))
        with pytest.raises(anthropic.APIStatusError) as from_anthropic:
            claude.messages.create(model="claude", max_tokens=10, messages=HI)
        assert oai.seen == [] and ant.seen == []
    assert from_openai.value.status_code == 503
    assert from_openai.value.code == "budget_unavailable"
    assert "budgets cannot be checked" in str(from_openai.value.message)
    assert "on_redis_error: closed" in str(from_openai.value.message)
    body = from_anthropic.value.body
    assert from_anthropic.value.status_code == 503
    assert isinstance(body, dict) and body["error"]["type"] == "overloaded_error"
    assert "budgets cannot be checked" in body["error"]["message"]
    rows = records(sqlite_db)
    assert [(r["error_type"], r["http_status"]) for r in rows] == [
        ("budget_unavailable", 503),
        ("budget_unavailable", 503),
    ]


class FlakyLedger(MemoryLedger):
    """A ledger that can be switched off, as Redis can."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def settle(self, claims: Sequence[Claim], settlement: Settlement) -> list[Crossing]:
        if self.down:
            raise LedgerUnavailableError("ConnectionError: connection refused")
        return await super().settle(claims, settlement)


def test_settlements_made_while_the_ledger_is_away_are_applied_when_it_returns() -> None:
    budget = Budget("b", Scope(), "daily", 10**9)
    claim = Claim(budget, window("daily", budget.zone))
    ledger = FlakyLedger()
    guard = BudgetGuard(BudgetSettings(rules=(budget,)), CATALOG, ledger=ledger)

    async def go() -> tuple[int, int]:
        await ledger.seed(claim, 0, 0)
        await ledger.reserve([claim], 500, "t1")
        ledger.down = True
        trace = CallTrace(operation="chat", alias="fast")
        guard._open_tickets = 2  # two calls reserved for: one before, one during the outage
        await guard.settle(Ticket((claim,), 500, reserved=True, id="t1"), trace, None)
        await guard.settle(Ticket((claim,), 0, reserved=False, id="t2"), trace, None)
        ledger.down = False
        await guard.settle(Ticket((claim,), 0, reserved=False, id="t3"), trace, None)
        found = await ledger.balance(claim)
        assert found is not None
        return found.spent, found.reserved

    assert asyncio.run(go()) == (0, 0)  # the reservation came back; these cost nothing
