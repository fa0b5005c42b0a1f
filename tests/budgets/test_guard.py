"""The gateway's guard across a config reload: the ledger is kept when its place is
unchanged, alert subscribers carry over, and the old guard lets go of its own ledger
only once the calls it admitted have settled."""

from __future__ import annotations

import asyncio

from tests.gateway.running import CATALOG

from tokenomy.budgets import Budget, BudgetSettings, Claim, MemoryLedger, Scope, window
from tokenomy.gateway.budget_guard import BudgetGuard, Ticket
from tokenomy.gateway.recorder import CallTrace

BUDGET = Budget("b", Scope(), "daily", 10**9)


class CountingLedger(MemoryLedger):
    closed = 0

    async def close(self) -> None:
        self.closed += 1


def test_a_reload_keeps_an_in_memory_ledger_and_its_counts() -> None:
    async def go() -> None:
        ledger = CountingLedger()
        old = BudgetGuard(BudgetSettings(rules=(BUDGET,)), CATALOG, ledger=ledger)
        hooks = old.alert_hooks
        claim = Claim(BUDGET, window("daily", BUDGET.zone))
        await ledger.seed(claim, 7, 0)
        new = old.successor(BudgetSettings(rules=(BUDGET,), default_max_tokens=10))
        await asyncio.sleep(0)
        assert new.ledger is ledger and new.alert_hooks is hooks and ledger.closed == 0
        found = await new.ledger.balance(claim)
        assert found is not None and found.spent == 7

    asyncio.run(go())


def test_a_new_ledger_place_closes_the_old_one_after_its_last_call() -> None:
    async def go() -> None:
        ledger = CountingLedger()
        old = BudgetGuard(BudgetSettings(rules=(BUDGET,)), CATALOG, ledger=ledger)
        claim = Claim(BUDGET, window("daily", BUDGET.zone))
        await ledger.seed(claim, 0, 0)
        await ledger.reserve([claim], 5, "t1")
        old._open_tickets = 1  # one call admitted and still in flight
        new = old.successor(BudgetSettings(rules=(BUDGET,), redis_url="redis://127.0.0.1:1/0"))
        await asyncio.sleep(0)
        assert new.ledger is not ledger and ledger.closed == 0
        ticket = Ticket((claim,), 5, reserved=True, id="t1")
        await old.settle(ticket, CallTrace("chat", "fast"), None)
        for _ in range(3):
            await asyncio.sleep(0)
        assert ledger.closed == 1
        found = await ledger.balance(claim)
        assert found is not None and found.reserved == 0
        await new.close()

    asyncio.run(go())
