"""Budgets: spending limits per org, project, user and key, daily or monthly, enforced
by the gateway across replicas through one ledger (Redis, or this process's memory).

See docs/budgets.md. The gateway side is :mod:`tokenomy.gateway.budget_guard`.
"""

from tokenomy.budgets.alerts import AlertHook, BudgetAlert
from tokenomy.budgets.budget import Budget, Scope, Who, key_budget, matching, money
from tokenomy.budgets.ledger import (
    Admitted,
    Balance,
    Claim,
    Crossing,
    Ledger,
    LedgerUnavailableError,
    MemoryLedger,
    Refused,
    Settlement,
    Unseeded,
)
from tokenomy.budgets.periods import PERIODS, Period, Window, window
from tokenomy.budgets.settings import BudgetSettings, parse_budgets

__all__ = [
    "PERIODS",
    "Admitted",
    "AlertHook",
    "Balance",
    "Budget",
    "BudgetAlert",
    "BudgetSettings",
    "Claim",
    "Crossing",
    "Ledger",
    "LedgerUnavailableError",
    "MemoryLedger",
    "Period",
    "Refused",
    "Scope",
    "Settlement",
    "Unseeded",
    "Who",
    "Window",
    "key_budget",
    "matching",
    "money",
    "parse_budgets",
    "window",
]
