"""Numbers for people: compact tokens and money that fit an 80-column terminal."""

from __future__ import annotations

from decimal import Decimal

from tokenomy.humanize import tokens as tokens  # re-exported: one formatter for both


def usd(value: Decimal, unknown: int = 0) -> str:
    """Dollars: a tenth of a cent below $1, cents below $1,000, whole dollars above.
    A '+' marks a sum that leaves out calls whose cost is unknown."""
    if value == 0:
        text = "$0.00"
    elif value < 1:
        text = f"${value:.3f}"
    elif value < 1000:
        text = f"${value:,.2f}"
    else:
        text = f"${value:,.0f}"
    return text + ("+" if unknown else "")
