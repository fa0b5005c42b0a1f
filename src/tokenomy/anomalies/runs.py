"""Runs of hours that are each a little high: a level shift, not a spike.

A rise of 80% that lasts an afternoon may score only 2 or 3 in any one hour of a small
group, too little to page anyone alone, yet six such hours in a row do not happen by
chance. The run score of an hour is the best standardised sum over the runs ending at it
(z_1 + ... + z_m) / sqrt(m), which is itself a z-score when the hours are independent.
Only consecutive hours that are each at least ``floor`` sigmas out count, and each adds at
most ``clip``, so one big spike followed by ordinary hours is not a run. Causal: an hour is
judged from itself and the hours before it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def run_scores(
    z: Sequence[float | None], hours: int, floor: float, clip: float
) -> list[float | None]:
    """For every hour, the best run score of a rise ending there (None: not in a rise)."""
    out: list[float | None] = []
    for i, zi in enumerate(z):
        if zi is None or zi < floor:
            out.append(None)
            continue
        best, total = zi, 0.0
        for m in range(1, hours + 1):
            zj = z[i - m + 1] if i - m + 1 >= 0 else None
            if zj is None or zj < floor:
                break
            total += min(zj, clip)
            if m >= 2:
                best = max(best, total / math.sqrt(m))
        out.append(best)
    return out
