"""Budget alerts: a threshold crossed is logged once per threshold and period, and handed
to every hook subscribed, which is where notifiers (Slack, webhook, email) plug in."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from tokenomy.budgets.budget import Budget, money
from tokenomy.budgets.ledger import Crossing
from tokenomy.budgets.periods import Window

log = logging.getLogger("tokenomy.budgets")


@dataclass(frozen=True, slots=True)
class BudgetAlert:
    budget: Budget
    window: Window
    permille: int  # the threshold crossed, per mille of the limit (800 = 80%)
    spent_nanos: int

    @property
    def message(self) -> str:
        b = self.budget
        percent = f"{self.permille / 10:g}%"
        return (
            f"{b.label} ({b.scope.describe()}) reached {percent} of its {money(b.limit_nanos)} "
            f"{b.period} limit: {money(self.spent_nanos)} spent in {self.window.id} "
            f"({b.mode}; resets {self.window.end.isoformat()})"
        )


AlertHook = Callable[[BudgetAlert], None]


def announce(crossings: list[Crossing], hooks: list[AlertHook]) -> None:
    for crossing in crossings:
        alert = BudgetAlert(
            crossing.claim.budget, crossing.claim.window, crossing.permille, crossing.spent
        )
        log.warning("%s", alert.message)
        for hook in hooks:
            try:
                hook(alert)
            except Exception:  # one broken notifier must not stop the others or the call
                log.exception("budget alert hook %r failed", hook)
