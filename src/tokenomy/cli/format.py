"""Numbers for people: compact tokens and money that fit an 80-column terminal."""

from __future__ import annotations

import re
from decimal import Decimal

from tokenomy.humanize import tokens as tokens  # re-exported: one formatter for both


def usd(value: Decimal, unknown: int = 0, calls: int | None = None) -> str:
    """Dollars: a tenth of a cent below $1, cents below $1,000, whole dollars above.
    A '+' marks a sum that leaves out calls whose cost is unknown; "?" a sum of ``calls``
    calls none of which has a known cost (not $0)."""
    if unknown and calls is not None and unknown >= calls:
        return "?"
    if value == 0:
        text = "$0.00"
    elif value < 1:
        text = f"${value:.3f}"
    elif value < 1000:
        text = f"${value:,.2f}"
    else:
        text = f"${value:,.0f}"
    return text + ("+" if unknown else "")


# Characters a terminal acts on instead of showing: C0 and C1 controls (ESC starts colour,
# cursor and window-title sequences; newline and CR break a table's rows), line and
# paragraph separators, and the bidi controls that show "abc\u202egnp.exe" as "abcexe.png".
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(text: str) -> str:
    """``text`` for a terminal: names come from agent logs and CSV files, so a control
    character in one is shown as a visible escape (``\\x1b``, ``\\n``, ``\\u202e``), never
    sent to the terminal to act on. JSON output keeps the real value."""
    return _UNPRINTABLE.sub(_escape, text)
