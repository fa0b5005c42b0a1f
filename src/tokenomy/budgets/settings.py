"""The ``budgets:`` section of tokenomy.yaml.

```yaml
budgets:
  redis_url: redis://127.0.0.1:6379/0   # shared by replicas; without it, this process only
  on_redis_error: open                  # open (serve, log loudly) | closed (refuse with 503)
  default_max_tokens: 4096              # the output reserved for when a request sets no cap
  rules:
    - {name: web-daily, project: web, period: daily, limit_usd: 10, mode: hard}
    - {name: ann-monthly, user: ann, period: monthly, limit_usd: 100, mode: soft,
       alert_at: [0.5, 0.8, 1.0], timezone: Europe/Berlin}
```

A rule's scope is any of ``org``, ``project``, ``user`` and ``key`` (a key id); all that
are given must match a call, and a rule with none covers every call. Virtual keys carry
their own budgets (``tokenomy keys create --budget``), enforced alongside these.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tokenomy.budgets.budget import MODES, Budget, Scope
from tokenomy.budgets.periods import PERIODS
from tokenomy.config import check_finite
from tokenomy.record import MAX_BUDGET_NANOS, NANOS_PER_USD

Fail = Callable[[str, str], NoReturn]
OnRedisError = Literal["open", "closed"]
ON_REDIS_ERROR: tuple[OnRedisError, ...] = ("open", "closed")
DEFAULT_MAX_TOKENS = 4096
# A soft budget says something by default when it is used up; a hard one refuses instead.
DEFAULT_SOFT_ALERTS = (Decimal("0.8"), Decimal("1"))
_KEYS = ("redis_url", "on_redis_error", "default_max_tokens", "rules")
_RULE_KEYS = (
    "name",
    "org",
    "project",
    "user",
    "key",
    "period",
    "limit_usd",
    "mode",
    "alert_at",
    "timezone",
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


@dataclass(frozen=True, slots=True)
class BudgetSettings:
    rules: tuple[Budget, ...] = ()
    redis_url: str | None = None
    on_redis_error: OnRedisError = "open"
    default_max_tokens: int = DEFAULT_MAX_TOKENS


def parse_budgets(raw: Any, where: str, fail: Fail) -> BudgetSettings:
    if raw is None:
        return BudgetSettings()
    if not isinstance(raw, dict):
        fail(where, f"expected a mapping with any of {', '.join(_KEYS)}")
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        fail(f"{where}.{unknown[0]}", f"unknown key (expected one of {', '.join(_KEYS)})")
    redis_url = raw.get("redis_url")
    if redis_url is not None and (
        not isinstance(redis_url, str) or not redis_url.startswith(("redis://", "rediss://"))
    ):
        fail(f"{where}.redis_url", f"expected redis://host:port/db, got {redis_url!r}")
    on_error = raw.get("on_redis_error", "open")
    if on_error not in ON_REDIS_ERROR:
        fail(
            f"{where}.on_redis_error",
            f"expected open (serve and log) or closed (refuse with 503), got {on_error!r}",
        )
    cap = raw.get("default_max_tokens", DEFAULT_MAX_TOKENS)
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
        fail(f"{where}.default_max_tokens", f"expected a whole number of tokens >= 1, got {cap!r}")
    rules = raw.get("rules") or []
    if not isinstance(rules, list):
        fail(f"{where}.rules", "expected a list of rules, each a mapping with name and limit_usd")
    parsed: list[Budget] = []
    seen: set[str] = set()
    for i, entry in enumerate(rules):
        rule = parse_rule(entry, f"{where}.rules[{i}]", fail)
        if rule.name in seen:
            fail(f"{where}.rules[{i}].name", f"{rule.name!r} is used twice: names must be unique")
        seen.add(rule.name)
        parsed.append(rule)
    return BudgetSettings(
        rules=tuple(parsed),
        redis_url=redis_url,
        on_redis_error=on_error,
        default_max_tokens=cap,
    )


def parse_rule(entry: Any, where: str, fail: Fail) -> Budget:
    if not isinstance(entry, dict):
        fail(where, "expected a mapping such as {name: web-daily, project: web, limit_usd: 10}")
    unknown = sorted(set(entry) - set(_RULE_KEYS))
    if unknown:
        fail(f"{where}.{unknown[0]}", f"unknown key (expected one of {', '.join(_RULE_KEYS)})")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        fail(
            f"{where}.name",
            f"expected a name of letters, digits, '-', '_' or '.' (e.g. web-daily), got {name!r}",
        )
    scope = {}
    for field in ("org", "project", "user", "key"):
        value = entry.get(field)
        if value is not None and (not isinstance(value, str) or not value):
            fail(f"{where}.{field}", f"expected a {field} name, got {value!r}")
        scope[field] = value
    period = entry.get("period", "monthly")
    if period not in PERIODS:
        fail(f"{where}.period", f"expected daily or monthly, got {period!r}")
    limit = _nanos(entry.get("limit_usd"), f"{where}.limit_usd", fail)
    mode = entry.get("mode", "hard")
    if mode not in MODES:
        fail(f"{where}.mode", f"expected hard (refuse at the limit) or soft (alert), got {mode!r}")
    alerts = _alerts(entry.get("alert_at"), f"{where}.alert_at", fail)
    if alerts is None:
        alerts = DEFAULT_SOFT_ALERTS if mode == "soft" else ()
    zone = entry.get("timezone", "UTC")
    try:
        if not isinstance(zone, str):
            raise ValueError
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        fail(f"{where}.timezone", f"expected an IANA time zone such as Europe/Berlin, got {zone!r}")
    return Budget(
        name=name,
        scope=Scope(**scope),
        period=period,
        limit_nanos=limit,
        mode=mode,
        alert_at=alerts,
        timezone=zone,
    )


def _nanos(value: Any, where: str, fail: Fail) -> int:
    if value is None:
        fail(where, "missing: the limit in USD, e.g. limit_usd: 10")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        fail(where, f"expected an amount of USD such as 10 or 12.50, got {value!r}")
    try:
        # str() first: a YAML float such as 0.1 is meant as written, not as its binary value.
        amount = Decimal(str(value).strip().removeprefix("$"))
    except InvalidOperation:
        fail(where, f"expected an amount of USD such as 10 or 12.50, got {value!r}")
    if not amount.is_finite() or amount < 0:
        fail(where, f"expected zero or more USD, got {value!r}")
    nanos = amount * NANOS_PER_USD
    if nanos > MAX_BUDGET_NANOS:
        fail(where, f"at most ${MAX_BUDGET_NANOS // NANOS_PER_USD:,}, got {value!r}")
    if nanos != nanos.to_integral_value():
        fail(where, f"{value!r} is finer than a billionth of a dollar")
    return int(nanos)


def _alerts(value: Any, where: str, fail: Fail) -> tuple[Decimal, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        value = [value]
    out: set[Decimal] = set()
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float):
            fail(where, f"expected fractions of the limit such as [0.5, 0.8, 1.0], got {item!r}")
        check_finite(item, where, fail)
        fraction = Decimal(str(item))
        if not 0 < fraction <= 10:
            fail(where, f"expected fractions above 0 (1.0 is the whole limit), got {item!r}")
        out.add(fraction)
    return tuple(sorted(out))
