"""A seasonal, robust anomaly detector for hourly series.

The expected value of an hour is the median of the same hour of the day over the previous
``days`` days, of the same kind (weekday or weekend) when the series' dates are known and
at least two such days exist, both on the user's clock (``zone``, clock.py): LLM traffic
follows the working week, so a Saturday 3 pm is compared with weekend 3 pms, and a
median ignores a past spike that a mean would carry forward. (Two, not ``min_history``:
14 days hold only 4 weekend days, and falling back to weekdays would expect a Saturday to
be as busy as a Tuesday.)

How far off an hour is is measured against the series' own noise (see noise.py):
- level metrics (cost, tokens, p95 latency): the relative residual (observed / expected
  - 1), divided by the spread of the recent hours' residuals, each put on a per-call scale
  when the hours' call counts are given, so quiet hours may wobble more than busy ones;
- a share of failed calls, given the call counts: the binomial surprise of that many
  failures at the usual rate (the larger of the seasonal median and the median daily rate),
  so one failure in a 20-call hour is not an anomaly.
A spread, not a standard deviation, because the anomalies being looked for must not
inflate the yardstick that measures them. A run of hours that are each somewhat high
scores as a whole (see runs.py), so a level shift is caught before any one hour of it is
extreme.

An hour is flagged only when all of these hold, so a thin series does not page anyone:
- at least ``min_history`` earlier values of that hour of the day exist;
- its score (the hour's, or its run's) is at least ``threshold``;
- the change is at least ``min_change`` in the metric's own unit.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, tzinfo

from tokenomy.anomalies.clock import LocalClock, local_clock
from tokenomy.anomalies.noise import MAD_TO_SIGMA, binomial_z, for_hour, mad, per_call, spread
from tokenomy.anomalies.runs import run_scores

__all__ = [
    "HOURS_PER_DAY",
    "MAD_TO_SIGMA",
    "DetectorSettings",
    "Verdict",
    "anomalous",
    "baseline",
    "detect",
    "score_series",
    "weekend",
]

HOURS_PER_DAY = 24
# Days of the same kind (weekday/weekend) the seasonal median needs before it is used.
MIN_SAME_KIND = 2


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    days: int = 14  # how many previous days the baseline and the noise look at
    min_history: int = 5  # earlier values of the same hour of day needed for a verdict
    threshold: float = 5.0  # score (in estimated sigmas) that counts as anomalous
    min_change: float = 0.0  # in the metric's unit: smaller changes are never flagged
    # A relative noise floor: a perfectly flat history would otherwise make any change
    # infinitely surprising.
    min_relative_noise: float = 0.05
    both_ways: bool = False  # flag drops too (default: only rises page anyone)
    # Level shifts (runs.py): up to this many consecutive hours, each at least run_floor
    # sigmas out, are scored together; each adds at most run_clip. 0 hours: no runs.
    run_hours: int = 6
    run_floor: float = 1.0
    run_clip: float = 4.0


@dataclass(frozen=True, slots=True)
class Verdict:
    index: int  # position in the series
    observed: float
    expected: float
    score: float  # signed: positive above the baseline


def weekend(epoch_hour: int) -> bool:
    """On UTC days (a series with a clock uses its own: LocalClock.weekend)."""
    return (epoch_hour // HOURS_PER_DAY + 3) % 7 >= 5  # 1970-01-01 was a Thursday


def baseline(
    values: Sequence[float | None],
    i: int,
    days: int,
    clock: LocalClock | None = None,
    same_kind: int | None = None,
) -> list[float]:
    """The values at the same hour of the day over the ``days`` days before ``i``: on the
    series' local clock when it has one (else 24-hour steps back). With ``same_kind``
    and a clock, only the days of the same kind (weekday or weekend), when there are that
    many of them: a Saturday is compared with Saturdays and Sundays, not with Fridays."""
    out: list[float] = []
    same: list[float] = []
    for d in range(1, days + 1):
        if clock is None:
            j: int | None = i - d * HOURS_PER_DAY
            if j is not None and j < 0:
                break
        elif clock.before_start(i, d):
            break
        else:
            j = clock.same_hour(i, d)
        if j is None:  # a DST change skipped that hour on that day
            continue
        v = values[j]
        if v is not None:
            out.append(v)
            if clock is not None and clock.weekend(j) == clock.weekend(i):
                same.append(v)
    if clock is not None and same_kind is not None and len(same) >= same_kind:
        return same
    return out


def _relative(observed: float, expected: float, floor: float) -> float:
    return (observed - expected) / max(abs(expected), floor)


def _expected(
    values: Sequence[float | None], settings: DetectorSettings, clock: LocalClock | None
) -> list[float | None]:
    """The seasonal median of every hour that has ``min_history`` earlier values."""
    out: list[float | None] = []
    for i, v in enumerate(values):
        if v is None or len(baseline(values, i, settings.days, clock)) < settings.min_history:
            out.append(None)
            continue
        out.append(statistics.median(baseline(values, i, settings.days, clock, MIN_SAME_KIND)))
    return out


def _daily_rates(
    values: Sequence[float | None], calls: Sequence[int], i: int, days: int
) -> list[float]:
    """The pooled share of failed calls of each of the ``days`` 24-hour spans before i."""
    out: list[float] = []
    for d in range(days):
        lo, hi = max(0, i - (d + 1) * HOURS_PER_DAY), i - d * HOURS_PER_DAY
        if hi <= 0:
            break
        failed = n = 0.0
        for j in range(lo, hi):
            v = values[j]
            if v is not None:
                failed += v * calls[j]
                n += calls[j]
        if n:
            out.append(failed / n)
    return out


def _rate_scores(
    values: Sequence[float | None],
    calls: Sequence[int],
    expected: list[float | None],
    settings: DetectorSettings,
    first: int,
) -> list[float | None]:
    """Binomial z-scores of failure shares; ``expected`` is raised to the usual daily rate
    where the seasonal median is lower (a median of 0-or-5% hours is 0)."""
    z: list[float | None] = [None] * len(values)
    for i in range(first, len(values)):
        v, e = values[i], expected[i]
        if v is None or e is None:
            continue
        daily = _daily_rates(values, calls, i, settings.days)
        if not daily:
            continue
        window_calls = sum(calls[max(0, i - settings.days * HOURS_PER_DAY) : i])
        # Never 0: no failure in the window still leaves half a failure's worth of doubt.
        rate = max(e, statistics.median(daily), 0.5 / max(window_calls, 1))
        expected[i] = max(e, statistics.median(daily))
        z[i] = binomial_z(round(v * calls[i]), calls[i], rate)
    return z


def _level_scores(
    values: Sequence[float | None],
    calls: Sequence[int] | None,
    expected: list[float | None],
    settings: DetectorSettings,
    first: int,
    clock: LocalClock | None,
) -> list[float | None]:
    floor = max(settings.min_change, 1e-12)

    def n(i: int) -> int | None:
        return None if calls is None else calls[i]

    unit: list[float | None] = []
    for i, (v, e) in enumerate(zip(values, expected, strict=True)):
        unit.append(None if v is None or e is None else per_call(_relative(v, e, floor), n(i)))
    z: list[float | None] = [None] * len(values)
    window = settings.days * HOURS_PER_DAY
    for i in range(first, len(values)):
        u = unit[i]
        if u is None:
            continue
        # The yardstick comes from the hours before this one, never from it.
        recent = [r for r in unit[max(0, i - window) : i] if r is not None]
        if len(recent) < settings.min_history:
            continue
        centre, sigma = spread(recent)
        # The same hour of the day has about this hour's call count: where the noise does
        # not shrink with traffic as the per-call model assumes, it is wider and wins.
        # (Its MAD only: a 90th percentile of 14 values is too unsteady.)
        same = [r for r in baseline(unit, i, settings.days, clock) if r is not None]
        if len(same) >= settings.min_history:
            sigma = max(sigma, mad(same)[1])
        noise = max(for_hour(sigma, n(i)), settings.min_relative_noise)
        z[i] = for_hour(u - centre, n(i)) / noise
    return z


def score_series(
    values: Sequence[float | None],
    settings: DetectorSettings,
    start: int = 0,
    epoch_hour: int | None = None,
    *,
    calls: Sequence[int] | None = None,
    rate: bool = False,
    zone: tzinfo = UTC,
) -> list[Verdict]:
    """A verdict for every hour from ``start`` that has enough history (None: no data).

    ``epoch_hour``: hours since 1970-01-01 UTC of ``values[0]``, which puts the series on
    the clock of ``zone`` (days and weekends are local; without it, 24-hour steps and no
    weekends). ``calls``: the call count of every hour (same length as ``values``), for the
    noise models; ``rate``: the values are shares of those calls that failed (binomial)."""
    if calls is not None and len(calls) != len(values):
        raise ValueError("calls must have one count per value")
    start = max(start, 0)
    first = max(0, start - settings.run_hours)  # a run ending at start begins before it
    clock = None if epoch_hour is None else local_clock(epoch_hour, len(values), zone)
    expected = _expected(values, settings, clock)
    if rate and calls is not None:
        z = _rate_scores(values, calls, expected, settings, first)
    else:
        z = _level_scores(values, calls, expected, settings, first, clock)
    ups = run_scores(z, settings.run_hours, settings.run_floor, settings.run_clip)
    flipped = [None if x is None else -x for x in z]
    downs = run_scores(flipped, settings.run_hours, settings.run_floor, settings.run_clip)
    out: list[Verdict] = []
    for i in range(start, len(values)):
        seen, base, zi = values[i], expected[i], z[i]
        if seen is None or base is None or zi is None:
            continue
        up, down = ups[i], downs[i]
        score = max(zi, up) if up is not None else -down if down is not None else zi
        out.append(Verdict(i, seen, base, score))
    return out


def anomalous(verdict: Verdict, settings: DetectorSettings) -> bool:
    if math.isnan(verdict.score):
        return False
    big = verdict.score >= settings.threshold or (
        settings.both_ways and verdict.score <= -settings.threshold
    )
    return big and abs(verdict.observed - verdict.expected) >= settings.min_change


def detect(
    values: Sequence[float | None],
    settings: DetectorSettings,
    start: int = 0,
    epoch_hour: int | None = None,
    *,
    calls: Sequence[int] | None = None,
    rate: bool = False,
    zone: tzinfo = UTC,
) -> list[Verdict]:
    """The anomalous hours from ``start`` on (see :func:`score_series`)."""
    verdicts = score_series(values, settings, start, epoch_hour, calls=calls, rate=rate, zone=zone)
    return [v for v in verdicts if anomalous(v, settings)]
