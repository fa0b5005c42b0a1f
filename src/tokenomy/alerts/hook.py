"""Budget rules in the gateway: the budgets' alert hook (docs/budgets.md) turned into
alerts for the ``budget`` rules that name the budget, sent to every notifier.

The hook is called on the event loop, so sending happens in a thread; the same state file
as ``tokenomy alerts run`` de-duplicates, so a crossing the gateway announced is not sent
again by a cron run (and the other way round)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from decimal import Decimal

from tokenomy.alerts.config import AlertsConfig
from tokenomy.alerts.notifiers import Notifier
from tokenomy.alerts.rules import budget_alert
from tokenomy.alerts.run import dispatch
from tokenomy.alerts.state import AlertState
from tokenomy.budgets.alerts import AlertHook, BudgetAlert


def budget_hook(
    config: AlertsConfig,
    notifiers: Sequence[Notifier],
    state: AlertState,
    *,
    background: bool = True,
) -> AlertHook:
    """A hook for ``gateway.budgets.alert_hooks``."""

    def hook(event: BudgetAlert) -> None:
        reached = Decimal(event.permille) / 1000
        now_ms = int(time.time() * 1000)
        alerts = [
            budget_alert(
                rule,
                event.budget.name,
                event.window.id,
                max(a for a in rule.at if a <= reached),
                event.spent_nanos,
                event.budget.limit_nanos,
                now_ms,
            )
            for rule in config.rules
            if rule.kind == "budget"
            and rule.budget == event.budget.name
            and any(a <= reached for a in rule.at)
        ]
        if not alerts:
            return

        def send() -> None:
            dispatch(alerts, notifiers, state, config.cooldown_s, now_ms)

        if background:
            threading.Thread(target=send, name="tokenomy-alerts", daemon=True).start()
        else:
            send()

    return hook
