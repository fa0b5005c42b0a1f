"""Evaluating the rules against the database at one moment: each rule gives the alerts
that hold now (sending, de-duplication and cool-down are :mod:`tokenomy.alerts.run`'s)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from tokenomy.alerts.alert import Alert
from tokenomy.alerts.config import AlertsConfig, Rule
from tokenomy.anomalies.check import find_anomalies, fmt
from tokenomy.api.params import Scope
from tokenomy.api.sums import sums
from tokenomy.api.timeseries import METRICS as SUMMED
from tokenomy.budgets.budget import money
from tokenomy.budgets.status import budget_status
from tokenomy.record import NANOS_PER_USD
from tokenomy.store.db import Database
from tokenomy.store.rollups import HOUR_MS

# How far back an anomaly rule looks on each run: a run missed by cron is caught up.
ANOMALY_LOOKBACK_MS = 3 * HOUR_MS


def window_value(db: Database, rule: Rule, start_ms: int, end_ms: int) -> Decimal:
    """The rule's metric over [start, end): USD for cost, a share for error_rate."""
    measures = ("cost_nanos", "calls", "failed_calls", *SUMMED["tokens"])
    row = sums(db, Scope(ZoneInfo("UTC"), start_ms, end_ms, rule.filters), (), measures)[0]
    cost, calls, failed = row[0], row[1], row[2]
    if rule.metric == "cost":
        return Decimal(cost) / NANOS_PER_USD
    if rule.metric == "tokens":
        return Decimal(sum(row[3:]))
    if rule.metric == "calls":
        return Decimal(calls)
    if rule.metric == "failed_calls":
        return Decimal(failed)
    return Decimal(failed) / calls if calls else Decimal(0)


# The unit a metric's numbers are named with in an alert's values (``observed_usd``).
UNITS = {
    "cost": "usd",
    "tokens": "tokens",
    "calls": "calls",
    "failed_calls": "calls",
    "error_rate": "share",
    "latency_p95": "ms",
}


def _show(metric: str, x: Decimal) -> str:
    return fmt("tokens" if metric in ("calls", "failed_calls") else metric, float(x))


def _values(metric: str, **named: Decimal | float) -> dict[str, float]:
    """The numbers behind an alert's fields, each name suffixed with the metric's unit."""
    return {f"{name}_{UNITS[metric]}": float(x) for name, x in named.items()}


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def threshold(db: Database, rule: Rule, now_ms: int) -> list[Alert]:
    got = window_value(db, rule, now_ms - rule.window_ms, now_ms)
    if got <= rule.above:
        return []
    # One alert per window length of the clock (per day for 1d): it holds for a while.
    period = _iso(now_ms // rule.window_ms * rule.window_ms)
    what = f"{rule.metric} over the last {rule.window}"
    return [
        Alert(
            rule.name,
            rule.kind,
            rule.scope_label(),
            period,
            f"{rule.name}: {what} is {_show(rule.metric, got)} ({rule.scope_label()})",
            f"{what.capitalize()} for {rule.scope_label()} is {_show(rule.metric, got)}, "
            f"above the rule's {_show(rule.metric, rule.above)}.",
            now_ms,
            {"observed": _show(rule.metric, got), "above": _show(rule.metric, rule.above)},
            values=_values(rule.metric, observed=got, above=rule.above),
        )
    ]


def rate_of_change(db: Database, rule: Rule, now_ms: int) -> list[Alert]:
    w = rule.window_ms
    now_v = window_value(db, rule, now_ms - w, now_ms)
    before = window_value(db, rule, now_ms - 2 * w, now_ms - w)
    if before <= 0:
        return []  # a rise from nothing has no percentage; threshold rules cover it
    pct = (now_v - before) / before * 100
    if pct < rule.increase_pct:
        return []
    period = _iso(now_ms // w * w)
    return [
        Alert(
            rule.name,
            rule.kind,
            rule.scope_label(),
            period,
            f"{rule.name}: {rule.metric} up {pct:.0f}% ({rule.scope_label()})",
            f"{rule.metric.capitalize()} for {rule.scope_label()} was "
            f"{_show(rule.metric, now_v)} in the last {rule.window}, against "
            f"{_show(rule.metric, before)} in the {rule.window} before: up {pct:.0f}% "
            f"(the rule fires at {rule.increase_pct}%).",
            now_ms,
            {
                "now": _show(rule.metric, now_v),
                "before": _show(rule.metric, before),
                "increase": f"{pct:.0f}%",
            },
            values={**_values(rule.metric, now=now_v, before=before), "increase_pct": float(pct)},
        )
    ]


def anomaly(db: Database, rule: Rule, config: AlertsConfig, now_ms: int) -> list[Alert]:
    settings = config.anomaly
    if rule.threshold is not None:
        settings = replace(settings, detector=replace(settings.detector, threshold=rule.threshold))
    found = find_anomalies(
        db,
        now_ms - ANOMALY_LOOKBACK_MS,
        now_ms,
        settings,
        metrics=rule.metrics,
        filters=rule.filters,
    )
    return [
        Alert(
            rule.name,
            rule.kind,
            f"{a.project or '-'}/{a.model or '-'}/{a.metric}",
            a.hour,
            f"{rule.name}: unusual {a.metric} for {a.project or '(no project)'} / "
            f"{a.model or '(no model)'}",
            a.describe() + ".",
            now_ms,
            {
                "observed": fmt(a.metric, a.observed),
                "expected": fmt(a.metric, a.expected),
                "score": f"{a.score:.1f}",
                "hour": a.hour,
            },
            link=a.link,
            values=_values(a.metric, observed=a.observed, expected=a.expected),
        )
        for a in found
    ]


def budget(db: Database, rule: Rule, config: AlertsConfig, now_ms: int) -> list[Alert]:
    """The spend this period against the limit, from the ledger or the database, like
    ``tokenomy budgets``: the highest ``at`` fraction reached alerts."""
    chosen = [b for b in config.budgets.rules if b.name == rule.budget]
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    report = asyncio.run(budget_status(config.budgets, chosen, db, now))
    out: list[Alert] = []
    for status in report.budgets:
        used = status.fraction
        if used is None:
            continue
        reached = [a for a in rule.at if used >= a]
        if reached:
            out.append(
                budget_alert(
                    rule,
                    status.budget.name,
                    status.window.id,
                    reached[-1],
                    status.spent_nanos,
                    status.budget.limit_nanos,
                    now_ms,
                )
            )
    return out


def budget_alert(
    rule: Rule, name: str, period: str, at: Decimal, spent: int, limit: int, now_ms: int
) -> Alert:
    percent = f"{float(at * 100):g}%"
    return Alert(
        rule.name,
        rule.kind,
        f"budget {name} at {percent}",
        period,
        f"budget {name} reached {percent} of its limit",
        f"Budget {name} has spent {money(spent)} of its {money(limit)} limit in {period}.",
        now_ms,
        {"spent": money(spent), "limit": money(limit), "threshold": percent},
        values={
            "spent_usd": spent / NANOS_PER_USD,
            "limit_usd": limit / NANOS_PER_USD,
            "threshold_share": float(at),
        },
    )


def evaluate(db: Database, config: AlertsConfig, now_ms: int) -> list[Alert]:
    out: list[Alert] = []
    for rule in config.rules:
        if rule.kind == "threshold":
            out += threshold(db, rule, now_ms)
        elif rule.kind == "rate_of_change":
            out += rate_of_change(db, rule, now_ms)
        elif rule.kind == "anomaly":
            out += anomaly(db, rule, config, now_ms)
        else:
            out += budget(db, rule, config, now_ms)
    return out
