"""``tokenomy alerts run`` and ``test``: send what fires to every notifier, once.

An alert already sent (same rule, scope and period) is skipped; one whose rule and scope
alerted less than ``cooldown`` seconds ago is held back (and not remembered, so it goes out
on a later run if it still holds). An alert is remembered as sent when at least one
notifier took it: a notifier that is down does not make the others repeat themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tokenomy.alerts.alert import Alert, sample_alert
from tokenomy.alerts.config import AlertsConfig
from tokenomy.alerts.notifiers import Notifier, NotifyError
from tokenomy.alerts.rules import evaluate
from tokenomy.alerts.state import AlertState
from tokenomy.store.db import Database


@dataclass(frozen=True, slots=True)
class Delivery:
    notifier: str
    ok: bool
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"notifier": self.notifier, "ok": self.ok, "reason": self.reason or None}


@dataclass(slots=True)
class Outcome:
    alert: Alert
    status: str  # sent | failed | duplicate | cooling_down | listed (no notifier)
    deliveries: list[Delivery] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.alert.to_json(),
            "status": self.status,
            "deliveries": [d.to_json() for d in self.deliveries],
        }


def deliver(alert: Alert, notifiers: Sequence[Notifier]) -> list[Delivery]:
    """Each notifier's answer. Whatever one raises is that notifier's failure, with its
    reason: the others still get the alert, and the run goes on to save what was sent (an
    exception escaping here would send the same alert again on every run)."""
    out: list[Delivery] = []
    for n in notifiers:
        try:
            n.send(alert)
        except NotifyError as exc:
            out.append(Delivery(n.name, False, str(exc)))
        except Exception as exc:  # a notifier's bug or a value it cannot send
            out.append(Delivery(n.name, False, f"{type(exc).__name__}: {exc}"))
        else:
            out.append(Delivery(n.name, True))
    return out


def dispatch(
    alerts: Sequence[Alert],
    notifiers: Sequence[Notifier],
    state: AlertState,
    cooldown_s: int,
    now_ms: int,
) -> list[Outcome]:
    """Send each alert not sent before and not cooling down, under the state's lock."""
    out: list[Outcome] = []
    with state.locked():
        sent = state.load()
        sent.prune(now_ms)
        for alert in alerts:
            last = sent.last.get(alert.cooldown_key)
            if alert.key in sent.alerts:
                out.append(Outcome(alert, "duplicate"))
            elif last is not None and now_ms - last < cooldown_s * 1000:
                out.append(Outcome(alert, "cooling_down"))
            elif not notifiers:
                # Only listed: nothing is remembered, so the first run with a notifier
                # still delivers it.
                out.append(Outcome(alert, "listed"))
            else:
                deliveries = deliver(alert, notifiers)
                ok = any(d.ok for d in deliveries)
                if ok:
                    sent.alerts[alert.key] = now_ms
                    sent.last[alert.cooldown_key] = now_ms
                out.append(Outcome(alert, "sent" if ok else "failed", deliveries))
        state.save(sent)
    return out


def run_alerts(
    db: Database,
    config: AlertsConfig,
    notifiers: Sequence[Notifier],
    state: AlertState,
    now_ms: int,
) -> list[Outcome]:
    """Evaluate every rule at ``now_ms`` and send what fires."""
    return dispatch(evaluate(db, config, now_ms), notifiers, state, config.cooldown_s, now_ms)


def send_test(notifiers: Sequence[Notifier], now_ms: int) -> list[Delivery]:
    """A clearly marked sample to every notifier; no state is touched."""
    return deliver(sample_alert(now_ms), notifiers)
