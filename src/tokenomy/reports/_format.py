"""Numbers and names for people, as the HTML report and webhook messages write them.

The API answers in USD floats rounded to the nano-dollar; these only shape them for
reading. Kept apart from ``cli/format.py`` because reports sit below the CLI.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tokenomy.humanize import tokens as tokens  # re-exported: one formatter for both

# How a dimension with no value reads (a call with no project, say).
NONE_LABEL = "(none)"


def cost(row: Mapping[str, Any]) -> str:
    """A row's ``cost_usd``, followed by "+" when some of its calls have no price: the sum
    leaves them out; "?" when none of its calls has one (never read as free)."""
    unknown = row.get("unknown_cost_calls") or 0
    if (unknown and unknown >= (row.get("calls") or 0)) or row.get("cost_usd") is None:
        return "?"
    return usd(row["cost_usd"]) + ("+" if unknown else "")


def usd(value: float | Decimal) -> str:
    """Dollars with as many decimals as a small amount needs to not read as zero."""
    v = float(value)
    size = abs(v)
    if v == 0:
        return "$0.00"
    if size < 0.01:
        return f"${v:.4f}"
    if size < 0.1:
        return f"${v:.3f}"
    if size < 1000:
        return f"${v:,.2f}"
    return f"${v:,.0f}"


def percent(share: float) -> str:
    if share == 0:
        return "0%"
    if share < 0.001:
        return "<0.1%"
    return f"{share * 100:.1f}%"


def label(key: Any) -> str:
    """A dimension value as text; None (no value) reads as ``(none)``."""
    return NONE_LABEL if key is None else str(key)


def add_usd(values: list[float]) -> float:
    """A sum of API dollar amounts without float drift (they are exact to 9 decimals)."""
    return float(sum((Decimal(repr(v)) for v in values), Decimal(0)))


def days(range_: dict[str, Any], sep: str = " – ") -> str:
    """The local days a report covers and its zone: ``2026-11-01 – 2026-11-15 (UTC)``."""
    first, last = range_["first_day"], range_["last_day"]
    if first is None and last is None:
        text = "all time"
    elif first == last:
        text = str(first)
    else:
        text = f"{first or '…'}{sep}{last or '…'}"
    return f"{text} ({range_['timezone']})"
