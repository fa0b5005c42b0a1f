"""A budget: who it covers (its scope), how much per period, and what happens at the
limit. Rules come from tokenomy.yaml's ``budgets:``; a virtual key's own budget is one
more budget whose scope is that key."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from tokenomy.budgets.periods import Period
from tokenomy.record import NANOS_PER_USD

if TYPE_CHECKING:
    from tokenomy.keys import KeyInfo

Mode = Literal["hard", "soft"]
MODES: tuple[Mode, ...] = ("hard", "soft")
KEY_BUDGET_PREFIX = "key:"  # rule names cannot hold ':', so a key's budget never clashes


@dataclass(frozen=True, slots=True)
class Who:
    """Whom a call is booked to (the gateway's attribution of the request)."""

    org: str | None = None
    project: str | None = None
    user: str | None = None
    key_id: str | None = None


@dataclass(frozen=True, slots=True)
class Scope:
    """The calls a budget covers: every field given must match; none given is every call."""

    org: str | None = None
    project: str | None = None
    user: str | None = None
    key: str | None = None

    def matches(self, who: Who) -> bool:
        return (
            (self.org is None or self.org == who.org)
            and (self.project is None or self.project == who.project)
            and (self.user is None or self.user == who.user)
            and (self.key is None or self.key == who.key_id)
        )

    def describe(self) -> str:
        parts = [
            f"{label} {value}"
            for label, value in (
                ("org", self.org),
                ("project", self.project),
                ("user", self.user),
                ("key", self.key),
            )
            if value is not None
        ]
        return ", ".join(parts) or "every call"


@dataclass(frozen=True, slots=True)
class Budget:
    name: str
    scope: Scope
    period: Period
    limit_nanos: int
    mode: Mode = "hard"
    # Fractions of the limit at which to alert, e.g. (0.5, 0.8, 1.0).
    alert_at: tuple[Decimal, ...] = ()
    timezone: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # ZoneInfo keeps one instance per name

    @property
    def hard(self) -> bool:
        return self.mode == "hard"

    @property
    def label(self) -> str:
        """How messages name it."""
        if self.name.startswith(KEY_BUDGET_PREFIX):
            return f"the budget of key {self.name.removeprefix(KEY_BUDGET_PREFIX)}"
        return f"budget {self.name!r}"

    def thresholds(self) -> list[tuple[int, int]]:
        """(per mille of the limit, amount in nanos) for each alert threshold."""
        out = []
        for fraction in self.alert_at:
            amount = (fraction * self.limit_nanos).to_integral_value(rounding=ROUND_CEILING)
            out.append((int(fraction * 1000), int(amount)))
        return out


def key_budget(key: KeyInfo) -> Budget | None:
    """A virtual key's own budget (hard, in UTC), if it has one."""
    if key.budget_nanos is None or key.budget_period not in ("daily", "monthly"):
        return None
    period: Period = "daily" if key.budget_period == "daily" else "monthly"
    return Budget(
        name=KEY_BUDGET_PREFIX + key.id,
        scope=Scope(key=key.id),
        period=period,
        limit_nanos=key.budget_nanos,
    )


def matching(rules: tuple[Budget, ...], who: Who, key: KeyInfo | None) -> list[Budget]:
    """Every budget a call booked to ``who`` counts against."""
    found = [rule for rule in rules if rule.scope.matches(who)]
    own = key_budget(key) if key is not None else None
    if own is not None:
        found.append(own)
    return found


def money(nanos: int) -> str:
    """Dollars for messages: cents from $1 up, more digits below (limits of a few cents
    and estimates of a fraction of a cent are common)."""
    value = Decimal(nanos) / NANOS_PER_USD
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value >= 1 or value == 0:
        return f"{sign}${value:,.2f}"
    text = f"{value:.9f}".rstrip("0")
    if len(text.split(".")[1]) < 2:
        text = f"{value:.2f}"
    return f"{sign}${text}"
