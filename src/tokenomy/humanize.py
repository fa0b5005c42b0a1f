"""Token counts as people read them, shared by the terminal (``cli/format.py``) and the
reports (``reports/_format.py``), which otherwise format money each their own way."""

from __future__ import annotations


def tokens(n: int) -> str:
    """Exact below 10,000, then k, M and B with a few significant digits."""
    if n < 10_000:
        return f"{n:,}"
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    if n < 1_000_000_000:
        return f"{n / 1_000_000:.2f}M"
    return f"{n / 1_000_000_000:.2f}B"
