"""Where each budget stands this period, for `tokenomy budgets` and scripts: the spend
from the ledger the gateways share (Redis) when there is one, else from the database."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from tokenomy.budgets.budget import Budget, key_budget, money
from tokenomy.budgets.ledger import Claim, LedgerUnavailableError
from tokenomy.budgets.periods import Window, window
from tokenomy.budgets.settings import BudgetSettings
from tokenomy.budgets.spend import spent_nanos
from tokenomy.keys import KeyInfo
from tokenomy.record import NANOS_PER_USD
from tokenomy.store.db import Database, redact

Source = Literal["redis", "database"]


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    budget: Budget
    window: Window
    spent_nanos: int
    reserved_nanos: int  # held by calls in flight (known from Redis only)
    source: Source

    @property
    def fraction(self) -> Decimal | None:
        if self.budget.limit_nanos == 0:
            return None
        return Decimal(self.spent_nanos) / Decimal(self.budget.limit_nanos)

    def to_json(self) -> dict[str, Any]:
        b, fraction = self.budget, self.fraction
        return {
            "name": b.name,
            "scope": {
                "org": b.scope.org,
                "project": b.scope.project,
                "user": b.scope.user,
                "key": b.scope.key,
            },
            "period": b.period,
            "period_id": self.window.id,
            "mode": b.mode,
            "limit_usd": float(Decimal(b.limit_nanos) / NANOS_PER_USD),
            "limit_nanos": b.limit_nanos,
            "spent_usd": float(Decimal(self.spent_nanos) / NANOS_PER_USD),
            "spent_nanos": self.spent_nanos,
            "reserved_nanos": self.reserved_nanos,
            "percent": None if fraction is None else round(float(fraction) * 100, 2),
            "alert_at": [float(a) for a in b.alert_at],
            "timezone": b.timezone,
            "resets_at": self.window.end.isoformat(),
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class StatusReport:
    budgets: list[BudgetStatus]
    ledger: str  # where the spend was read: the Redis URL (password hidden) or "database"
    note: str | None = None  # e.g. Redis could not be reached


def all_budgets(settings: BudgetSettings, keys: Iterable[KeyInfo]) -> list[Budget]:
    """Config rules first, then every active key that carries a budget."""
    found = list(settings.rules)
    for key in keys:
        own = key_budget(key)
        if own is not None and not key.revoked:
            found.append(own)
    return found


async def budget_status(
    settings: BudgetSettings, budgets: list[Budget], db: Database, now: datetime | None = None
) -> StatusReport:
    at = now or datetime.now(UTC)
    claims = [Claim(b, window(b.period, b.zone, at)) for b in budgets]
    if not settings.redis_url:
        return StatusReport([_from_db(db, c) for c in claims], "database")
    from tokenomy.budgets.redis_ledger import RedisLedger

    ledger = RedisLedger(settings.redis_url)
    where = redact(settings.redis_url)
    out: list[BudgetStatus] = []
    try:
        for claim in claims:
            balance = await ledger.balance(claim)
            if balance is None:  # not used yet this period: what the gateway would seed
                out.append(_from_db(db, claim))
            else:
                out.append(
                    BudgetStatus(
                        claim.budget, claim.window, balance.spent, balance.reserved, "redis"
                    )
                )
    except LedgerUnavailableError as exc:
        note = f"Redis at {where} cannot be reached ({exc}): spend read from the database"
        return StatusReport([_from_db(db, c) for c in claims], "database", note)
    finally:
        await ledger.close()
    return StatusReport(out, where)


def _from_db(db: Database, claim: Claim) -> BudgetStatus:
    spent = spent_nanos(db, claim.budget.scope, claim.window)
    return BudgetStatus(claim.budget, claim.window, spent, 0, "database")


def describe_limit(budget: Budget) -> str:
    return f"{money(budget.limit_nanos)}/{'day' if budget.period == 'daily' else 'month'}"
