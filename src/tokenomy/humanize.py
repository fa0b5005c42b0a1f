"""Token counts and long names as people read them, shared by the terminal
(``cli/format.py``, ``cli/render.py``) and the reports (``reports/_format.py``,
``reports/html.py``), which otherwise format money each their own way."""

from __future__ import annotations

_UNITS = ((1_000, "k"), (1_000_000, "M"), (1_000_000_000, "B"))


def _three_digits(value: float) -> str | None:
    """``value`` (>= 1) with three significant digits, or None if it rounds to 1000."""
    for decimals, limit in ((2, 10), (1, 100), (0, 1000)):
        text = f"{value:.{decimals}f}"
        if float(text) < limit:  # decided after rounding: 99.95 is "100", not "100.0"
            return text
    return None


def tokens(n: int) -> str:
    """Exact below 10,000, then k, M and B with three significant digits (``14.4k``,
    ``395M``, ``2.01B``): at most five characters, so that a report's four token columns
    leave room for names in 80 columns."""
    if n < 10_000:
        return f"{n:,}"
    for size, unit in _UNITS:
        text = _three_digits(n / size)
        if text is not None:  # else 999,999 would read "1000k": it is 1.00M
            return text + unit
    return f"{n / 1_000_000_000:,.0f}B"


def fit(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, cut in the middle: names that differ only at
    the end (``playwright__browser_click`` and ``..._navigate``, two projects under one
    parent) stay told apart, where an ellipsis at the end gave both rows the same key."""
    if len(text) <= width:
        return text
    if width < 2:
        return text[:width]
    head = (width - 1) // 3
    return f"{text[:head]}…{text[len(text) - (width - 1 - head) :]}"
