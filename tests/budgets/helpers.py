"""A gateway under test with budgets, and a look at its ledger from the test's thread."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import redis
from tests.gateway.running import CATALOG, RunningGateway

from tokenomy.budgets import Budget, Claim, MemoryLedger, parse_budgets, window
from tokenomy.gateway.budget_guard import BudgetGuard
from tokenomy.gateway.config import failer
from tokenomy.store import Database


def budgeted(
    models: dict[str, Any], db: Database | None, budgets: dict[str, Any], **options: Any
) -> RunningGateway:
    """RunningGateway with tokenomy.yaml's ``budgets:`` section set to ``budgets``."""
    gw = RunningGateway(models, db, **options)
    settings = parse_budgets(budgets, "budgets", failer(Path("test.yaml")))
    gw.app.config.budgets = settings
    gw.app.budgets = BudgetGuard(settings, CATALOG, db)
    return gw


def balance(gw: RunningGateway, budget: Budget) -> tuple[int, int] | None:
    """(spent, reserved) of the budget's current period, or None if not seeded."""
    claim = Claim(budget, window(budget.period, budget.zone))
    ledger = gw.app.budgets.ledger
    if isinstance(ledger, MemoryLedger):
        found = asyncio.run(ledger.balance(claim))
        return None if found is None else (found.spent, found.reserved)
    url = gw.app.budgets.settings.redis_url
    assert url is not None
    client = redis.Redis.from_url(url)
    try:
        spent, reserved = client.hmget(claim.key, "spent", "reserved")
    finally:
        client.close()
    return None if spent is None else (int(spent), int(reserved or 0))


def settled(gw: RunningGateway, budget: Budget) -> tuple[int, int]:
    """The balance once no reservation is outstanding (settling follows the response)."""
    deadline = time.monotonic() + 10
    while True:
        found = balance(gw, budget)
        if found is not None and found[1] == 0:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{budget.name} never settled: {found}")
        time.sleep(0.01)
