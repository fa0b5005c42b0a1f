"""How much an hour can move by chance: the yardsticks the detector divides by.

Two noise models, both from what an hourly rollup already has (the hour's call count):
- a sum over calls (cost, tokens) or a quantile of them (p95 latency) wobbles by about
  1/sqrt(calls) of its level, so residuals are put on a per-call scale (times sqrt(calls))
  before their spread is measured, and brought back to the hour's own call count after:
  a quiet night is allowed more relative noise than a busy afternoon;
- a share of failed calls is binomial: 1 failure in 20 calls is 5% and ordinary when 1%
  of calls fail, 60 in 400 is not, so the score is the binomial tail probability of that
  many failures, as a normal z-score.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

# MAD * 1.4826 estimates the standard deviation of normal noise.
MAD_TO_SIGMA = 1.4826
# The upper tail is measured at this quantile: above the median by 1.2816 sigma if normal.
UPPER_QUANTILE = 0.9
_UPPER_Z = statistics.NormalDist().inv_cdf(UPPER_QUANTILE)
_NORMAL = statistics.NormalDist()
# Tail probabilities below this are all "certain"; inv_cdf needs a number above 0.
_TINY = 1e-300


def mad(xs: Sequence[float]) -> tuple[float, float]:
    """(median, MAD scaled to a normal sigma)."""
    centre = statistics.median(xs)
    return centre, statistics.median(abs(x - centre) for x in xs) * MAD_TO_SIGMA


def spread(xs: Sequence[float]) -> tuple[float, float]:
    """(centre, sigma) of residuals, robust to the anomalies among them.

    Sigma is the MAD's, or the upper tail's width (90th percentile above the median) when
    that is wider: sums of a few long-context calls are skewed to the right, and it is
    rises that are flagged, so the side that pages must be measured, not assumed normal.
    Needs a few hundred residuals (two weeks of hours) for a steady 90th percentile.
    """
    centre, mad_sigma = mad(xs)
    ordered = sorted(xs)
    upper = ordered[min(len(ordered) - 1, int(UPPER_QUANTILE * len(ordered)))]
    return centre, max(mad_sigma, (upper - centre) / _UPPER_Z)


def per_call(residual: float, calls: int | None) -> float:
    """A relative residual on the scale of one call (see the module's docstring)."""
    return residual if calls is None else residual * math.sqrt(max(calls, 1))


def for_hour(sigma: float, calls: int | None) -> float:
    """A per-call sigma back on the scale of an hour with ``calls`` calls."""
    return sigma if calls is None else sigma / math.sqrt(max(calls, 1))


def _log_pmf(k: int, n: int, p: float) -> float:
    return (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )


def _tail(x: int, n: int, p: float, step: int) -> float:
    """Mid-p tail of Binomial(n, p) from x outwards (step +1: upper, -1: lower): half of
    P(X = x), so a discrete count is not judged more surprising than it is."""
    total, k = 0.0, x
    while 0 <= k <= n:
        term = math.exp(_log_pmf(k, n, p))
        total += term / 2 if k == x else term
        # Past the mode the terms shrink geometrically: stop when they no longer count.
        beyond_mode = (k - n * p) * step > 0
        if beyond_mode and term < 1e-16 * total:
            break
        k += step
    return total


def binomial_z(failures: int, calls: int, rate: float) -> float:
    """How surprising ``failures`` of ``calls`` are when each call fails with probability
    ``rate``: the mid-p tail probability as a signed normal z-score (positive: too many)."""
    if calls <= 0:
        return 0.0
    p = min(max(rate, 1e-12), 1 - 1e-12)
    failures = min(max(failures, 0), calls)
    if failures > calls * p:
        tail = _tail(failures, calls, p, 1)
        return -_NORMAL.inv_cdf(min(max(tail, _TINY), 0.5))
    tail = _tail(failures, calls, p, -1)
    return _NORMAL.inv_cdf(min(max(tail, _TINY), 0.5))
