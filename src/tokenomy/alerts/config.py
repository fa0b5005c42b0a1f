"""The ``alerts:`` section of ``tokenomy.yaml``: where alerts go and what fires them.

```yaml
alerts:
  notify:
    slack: {webhook_url: https://hooks.slack.com/services/...}
    webhook: {url: https://example.com/hook, timeout: 10, retries: 3, backoff: 1}
    email: {smtp_host: 127.0.0.1, smtp_port: 25, from: tokenomy@example.com,
            to: [ops@example.com], starttls: false, username_env: SMTP_USER,
            password_env: SMTP_PASSWORD}
  cooldown: 3600           # seconds before one rule and scope may alert again
  timezone: America/New_York  # the team's clock for anomalies (default: this machine's)
  rules:
    - {name: daily-spend, kind: threshold, metric: cost, window: 1d, above: 50, project: web}
    - {name: spend-jump, kind: rate_of_change, metric: cost, window: 1h, increase_pct: 200}
    - {name: weird, kind: anomaly, metrics: [cost, error_rate, latency_p95]}
    - {name: budget, kind: budget, budget: web-daily, at: [0.8, 1.0]}
```

The gateway skips this section; only this module reads it. Every error names the file
and the key, as the gateway's do.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tokenomy.anomalies.check import AnomalySettings
from tokenomy.anomalies.series import METRICS as ANOMALY_METRICS
from tokenomy.budgets.settings import BudgetSettings, parse_budgets
from tokenomy.config import read_sections
from tokenomy.gateway.config import Fail, GatewayConfigError, failer
from tokenomy.reports.config import Webhook

AlertConfigError = GatewayConfigError  # one error type for every tokenomy.yaml mistake

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
WINDOW = re.compile(r"^(\d+)\s*([mhd])$")
WINDOW_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}
# Metrics a threshold or rate-of-change rule sums over its window.
RULE_METRICS = ("cost", "tokens", "calls", "failed_calls", "error_rate")
FILTER_KEYS = ("project", "model", "provider", "user", "key", "org", "source")
KINDS = ("threshold", "rate_of_change", "anomaly", "budget")
_TOP = ("notify", "cooldown", "timezone", "rules")
_RULE_KEYS: dict[str, tuple[str, ...]] = {
    "threshold": ("name", "kind", "metric", "window", "above", *FILTER_KEYS),
    "rate_of_change": ("name", "kind", "metric", "window", "increase_pct", *FILTER_KEYS),
    "anomaly": ("name", "kind", "metrics", "threshold", *FILTER_KEYS),
    "budget": ("name", "kind", "budget", "at"),
}
_NOTIFY = ("slack", "webhook", "email")
_HOOK_KEYS = ("timeout", "retries", "backoff")
_EMAIL_KEYS = (
    "smtp_host",
    "smtp_port",
    "from",
    "to",
    "starttls",
    "ssl",
    "username_env",
    "password_env",
    "timeout",
)


@dataclass(frozen=True, slots=True)
class SlackTarget:
    hook: Webhook


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    hook: Webhook


@dataclass(frozen=True, slots=True)
class EmailTarget:
    host: str
    port: int
    sender: str
    to: tuple[str, ...]
    starttls: bool = False
    ssl: bool = False
    username_env: str | None = None  # names of environment variables: no secrets in YAML
    password_env: str | None = None
    timeout: float = 10.0


Target = SlackTarget | WebhookTarget | EmailTarget


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule; which fields matter depends on ``kind``."""

    name: str
    kind: str
    metric: str = "cost"
    window_ms: int = 3_600_000
    window: str = "1h"
    above: Decimal = Decimal(0)
    increase_pct: Decimal = Decimal(0)
    metrics: tuple[str, ...] = ANOMALY_METRICS
    threshold: float | None = None
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    budget: str = ""
    at: tuple[Decimal, ...] = (Decimal("0.8"), Decimal(1))

    def scope_label(self) -> str:
        return ", ".join(f"{k} {'|'.join(v)}" for k, v in self.filters.items()) or "all calls"


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    path: Path | None = None
    targets: Mapping[str, Target] = field(default_factory=dict)
    cooldown_s: int = 3600
    rules: tuple[Rule, ...] = ()
    budgets: BudgetSettings = field(default_factory=BudgetSettings)
    anomaly: AnomalySettings = field(default_factory=AnomalySettings)
    timezone: str | None = None  # alerts.timezone as written; None: the machine's zone


def load_alerts(path: Path) -> AlertsConfig:
    """The ``alerts:`` section (and the ``budgets:`` one, which budget rules name)."""
    fail = failer(path)
    raw = read_sections(path, AlertConfigError, "alerts")
    budgets = parse_budgets(raw.get("budgets"), "budgets", fail)
    return parse_alerts(raw.get("alerts"), path, budgets)


def parse_alerts(raw: Any, path: Path, budgets: BudgetSettings | None = None) -> AlertsConfig:
    fail = failer(path)
    budgets = budgets or BudgetSettings()
    if raw is None:
        return AlertsConfig(path, budgets=budgets)
    if not isinstance(raw, dict):
        fail("alerts", f"expected a mapping with any of: {', '.join(_TOP)}")
    _unknown(raw, _TOP, "alerts", fail)
    cooldown = raw.get("cooldown", 3600)
    if isinstance(cooldown, bool) or not isinstance(cooldown, int) or cooldown < 0:
        fail("alerts.cooldown", f"expected a whole number of seconds (0 or more), got {cooldown!r}")
    targets = _targets(raw.get("notify"), fail)
    zone_name = raw.get("timezone")
    anomaly = AnomalySettings()
    if zone_name is not None:
        try:
            anomaly = AnomalySettings(zone=ZoneInfo(str(zone_name)))
        except (ZoneInfoNotFoundError, ValueError, OSError):
            fail(
                "alerts.timezone",
                f"{zone_name!r} is not a known time zone; use an IANA name such as "
                "Europe/Berlin or America/New_York",
            )
    rules_raw = raw.get("rules") or []
    if not isinstance(rules_raw, list):
        fail("alerts.rules", "expected a list of rules (each with name and kind)")
    names = {b.name for b in budgets.rules}
    rules: list[Rule] = []
    for i, entry in enumerate(rules_raw):
        rule = _rule(entry, f"alerts.rules[{i}]", names, fail)
        if any(r.name == rule.name for r in rules):
            fail(f"alerts.rules[{i}].name", f"{rule.name!r} is used twice; names must be unique")
        rules.append(rule)
    return AlertsConfig(
        path,
        targets,
        cooldown,
        tuple(rules),
        budgets,
        anomaly,
        None if zone_name is None else str(zone_name),
    )


def _unknown(entry: Mapping[Any, Any], allowed: tuple[str, ...], where: str, fail: Fail) -> None:
    unknown = sorted(str(k) for k in set(entry) - set(allowed))
    if unknown:
        fail(f"{where}.{unknown[0]}", f"unknown key (expected one of: {', '.join(allowed)})")


def _targets(raw: Any, fail: Fail) -> dict[str, Target]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        fail("alerts.notify", f"expected a mapping with any of: {', '.join(_NOTIFY)}")
    _unknown(raw, _NOTIFY, "alerts.notify", fail)
    out: dict[str, Target] = {}
    if "slack" in raw:
        out["slack"] = SlackTarget(_hook(raw["slack"], "alerts.notify.slack", "webhook_url", fail))
    if "webhook" in raw:
        out["webhook"] = WebhookTarget(_hook(raw["webhook"], "alerts.notify.webhook", "url", fail))
    if "email" in raw:
        out["email"] = _email(raw["email"], "alerts.notify.email", fail)
    return out


def _hook(raw: Any, where: str, url_key: str, fail: Fail) -> Webhook:
    if isinstance(raw, str):
        raw = {url_key: raw}
    if not isinstance(raw, dict):
        fail(where, f"expected a mapping with {url_key}")
    _unknown(raw, (url_key, *_HOOK_KEYS), where, fail)
    url = raw.get(url_key)
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        fail(f"{where}.{url_key}", f"expected an http(s) URL, got {url!r}")
    timeout = _number(raw.get("timeout", 10), f"{where}.timeout", fail, positive=True)
    backoff = _number(raw.get("backoff", 1), f"{where}.backoff", fail)
    retries = raw.get("retries", 3)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
        fail(f"{where}.retries", f"expected a whole number from 0 to 10, got {retries!r}")
    return Webhook(url, timeout, retries, backoff, html=False)


def _number(value: Any, where: str, fail: Fail, *, positive: bool = False) -> float:
    """Seconds: 0 or more (a backoff), or more than 0 (a timeout: 0 would give up at once)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or value < 0
        or (positive and value == 0)
        or not math.isfinite(value)  # .nan, and .inf: a wait that never ends
    ):
        wanted = "more than 0" if positive else "0 or more"
        fail(where, f"expected a number of seconds ({wanted}), got {value!r}")
    return float(value)


def _email(raw: Any, where: str, fail: Fail) -> EmailTarget:
    if not isinstance(raw, dict):
        fail(where, "expected a mapping with smtp_host, from and to")
    _unknown(raw, _EMAIL_KEYS, where, fail)
    host = raw.get("smtp_host")
    if not isinstance(host, str) or not host:
        fail(f"{where}.smtp_host", f"expected a host name, got {host!r}")
    port = raw.get("smtp_port", 25)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        fail(f"{where}.smtp_port", f"expected a port number, got {port!r}")
    sender = raw.get("from")
    if not isinstance(sender, str) or "@" not in sender:
        fail(f"{where}.from", f"expected an email address, got {sender!r}")
    to = raw.get("to")
    if isinstance(to, str):
        to = [to]
    if not isinstance(to, list) or not to or not all(isinstance(a, str) and "@" in a for a in to):
        fail(f"{where}.to", f"expected a list of email addresses, got {to!r}")
    flags = {}
    for key in ("starttls", "ssl"):
        value = raw.get(key, False)
        if not isinstance(value, bool):
            fail(f"{where}.{key}", f"expected true or false, got {value!r}")
        flags[key] = value
    if flags["starttls"] and flags["ssl"]:
        fail(f"{where}.ssl", "give starttls or ssl, not both")
    env: dict[str, str | None] = {}
    for key in ("username_env", "password_env"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            fail(f"{where}.{key}", f"expected the name of an environment variable, got {value!r}")
        env[key] = value
    timeout = _number(raw.get("timeout", 10), f"{where}.timeout", fail, positive=True)
    return EmailTarget(
        host,
        port,
        sender,
        tuple(to),
        flags["starttls"],
        flags["ssl"],
        env["username_env"],
        env["password_env"],
        timeout,
    )


def _decimal(value: Any, where: str, fail: Fail, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        fail(where, f"expected {what}, got {value!r}")
    try:
        out = Decimal(str(value))
    except InvalidOperation:
        fail(where, f"expected {what}, got {value!r}")
    if not out.is_finite() or out < 0:
        fail(where, f"expected {what}, got {value!r}")
    return out


def _rule(entry: Any, where: str, budget_names: set[str], fail: Fail) -> Rule:
    if not isinstance(entry, dict):
        fail(where, "expected a mapping with name and kind")
    name = entry.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        fail(f"{where}.name", f"expected letters, digits, '.', '_' or '-', got {name!r}")
    kind = entry.get("kind")
    if kind not in KINDS:
        fail(f"{where}.kind", f"expected one of: {', '.join(KINDS)}, got {kind!r}")
    _unknown(entry, _RULE_KEYS[kind], where, fail)
    filters: dict[str, tuple[str, ...]] = {}
    for key in FILTER_KEYS:
        if key in entry:
            value = entry[key]
            values = [value] if isinstance(value, str) else value
            if not isinstance(values, list) or not values:
                fail(f"{where}.{key}", f"expected a name or a list of names, got {value!r}")
            if not all(isinstance(v, str) and v for v in values):
                fail(f"{where}.{key}", f"expected a name or a list of names, got {value!r}")
            filters[key] = tuple(values)
    if kind in ("threshold", "rate_of_change"):
        metric = entry.get("metric", "cost")
        if metric not in RULE_METRICS:
            fail(f"{where}.metric", f"expected one of: {', '.join(RULE_METRICS)}, got {metric!r}")
        window = entry.get("window", "1h")
        m = WINDOW.match(str(window)) if isinstance(window, str) else None
        if m is None or int(m[1]) == 0:
            fail(f"{where}.window", f"expected a length such as 30m, 1h or 1d, got {window!r}")
        window_ms = int(m[1]) * WINDOW_MS[m[2]]
        if kind == "threshold":
            if "above" not in entry:
                fail(f"{where}.above", "missing: the value that fires the rule")
            above = _decimal(entry["above"], f"{where}.above", fail, "a number such as 50")
            return Rule(name, kind, metric, window_ms, window, above=above, filters=filters)
        if "increase_pct" not in entry:
            fail(f"{where}.increase_pct", "missing: the rise in percent that fires the rule")
        pct = _decimal(entry["increase_pct"], f"{where}.increase_pct", fail, "a percentage")
        return Rule(name, kind, metric, window_ms, window, increase_pct=pct, filters=filters)
    if kind == "anomaly":
        metrics = entry.get("metrics", list(ANOMALY_METRICS))
        if isinstance(metrics, str):
            metrics = [metrics]
        if (
            not isinstance(metrics, list)
            or not metrics
            or any(m not in ANOMALY_METRICS for m in metrics)
        ):
            fail(
                f"{where}.metrics",
                f"expected a list of: {', '.join(ANOMALY_METRICS)}, got {metrics!r}",
            )
        threshold = entry.get("threshold")
        if threshold is not None and (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not math.isfinite(threshold)  # .nan and .inf: a rule that can never fire
            or threshold <= 0
        ):
            fail(f"{where}.threshold", f"expected a positive score such as 6, got {threshold!r}")
        return Rule(
            name,
            kind,
            metrics=tuple(metrics),
            threshold=None if threshold is None else float(threshold),
            filters=filters,
        )
    budget = entry.get("budget")
    if not isinstance(budget, str) or budget not in budget_names:
        known = ", ".join(sorted(budget_names)) or "none: add budgets.rules"
        fail(f"{where}.budget", f"expected the name of a budget rule ({known}), got {budget!r}")
    at_raw = entry.get("at", [0.8, 1.0])
    if not isinstance(at_raw, list) or not at_raw:
        fail(
            f"{where}.at",
            f"expected a list of fractions of the limit such as [0.8, 1.0], got {at_raw!r}",
        )
    at = tuple(
        sorted(
            _decimal(a, f"{where}.at[{i}]", fail, "a fraction such as 0.8")
            for i, a in enumerate(at_raw)
        )
    )
    if any(a == 0 for a in at):
        fail(f"{where}.at", "fractions must be above 0")
    return Rule(name, kind, budget=budget, at=at)
