"""Numbers for people: compact tokens and money that fit an 80-column terminal."""

from __future__ import annotations

from decimal import Decimal


def tokens(n: int) -> str:
    if n < 10_000:
        return f"{n:,}"
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    if n < 1_000_000_000:
        return f"{n / 1_000_000:.2f}M"
    return f"{n / 1_000_000_000:.2f}B"


def usd(value: Decimal, unknown: int = 0) -> str:
    """Dollars to the cent (to a tenth of a cent below $1); a '+' marks unknown-cost calls."""
    text = f"${value:,.2f}" if value >= 1 or value == 0 else f"${value:.3f}"
    return text + ("+" if unknown else "")
