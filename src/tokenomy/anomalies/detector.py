"""A seasonal, robust anomaly detector for hourly series.

The expected value of an hour is the median of the same hour of the day over the previous
``days`` days (of the same kind, weekday or weekend, when the series' dates are known):
LLM traffic follows the working day, so 3 pm is compared with other 3 pms, and a median
ignores a past spike that a mean would carry forward. How far off an hour is is measured
against the series' own noise: the median absolute deviation (MAD) of the relative
residuals (observed / expected - 1) of the recent hours, or of the same hour of the day
when that is wider. Relative, because the noise of a count grows with its level; MAD,
because the anomalies being looked for must not inflate the yardstick that measures them
(a standard deviation would).

An hour is flagged only when all of these hold, so a thin series does not page anyone:
- at least ``min_history`` earlier values of that hour of the day exist;
- the robust score (relative residual / scaled MAD) is at least ``threshold``;
- the change is at least ``min_change`` in the metric's own unit.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

HOURS_PER_DAY = 24
# MAD * 1.4826 estimates the standard deviation of normal noise.
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    days: int = 14  # how many previous days the baseline and the noise look at
    min_history: int = 5  # earlier values of the same hour of day needed for a verdict
    threshold: float = 6.0  # robust score (in estimated sigmas) that counts as anomalous
    min_change: float = 0.0  # in the metric's unit: smaller changes are never flagged
    # A relative noise floor: a perfectly flat history would otherwise make any change
    # infinitely surprising.
    min_relative_noise: float = 0.05
    both_ways: bool = False  # flag drops too (default: only rises page anyone)


@dataclass(frozen=True, slots=True)
class Verdict:
    index: int  # position in the series
    observed: float
    expected: float
    score: float  # signed: positive above the baseline


def weekend(epoch_hour: int) -> bool:
    return (epoch_hour // HOURS_PER_DAY + 3) % 7 >= 5  # 1970-01-01 was a Thursday


def baseline(
    values: Sequence[float | None],
    i: int,
    days: int,
    epoch_hour: int | None = None,
    min_history: int = 0,
) -> list[float]:
    """The values at the same hour of the day over the ``days`` days before ``i``; given
    where the series starts (``epoch_hour``: hours since 1970-01-01 UTC of ``values[0]``),
    only the days of the same kind (weekday or weekend), when there are ``min_history`` of
    them: a Saturday is compared with Saturdays and Sundays, not with Fridays."""
    out: list[float] = []
    same: list[float] = []
    for d in range(1, days + 1):
        j = i - d * HOURS_PER_DAY
        if j < 0:
            break
        v = values[j]
        if v is not None:
            out.append(v)
            if epoch_hour is not None and weekend(epoch_hour + j) == weekend(epoch_hour + i):
                same.append(v)
    return same if epoch_hour is not None and len(same) >= min_history else out


def _relative(observed: float, expected: float, floor: float) -> float:
    return (observed - expected) / max(abs(expected), floor)


def score_series(
    values: Sequence[float | None],
    settings: DetectorSettings,
    start: int = 0,
    epoch_hour: int | None = None,
) -> list[Verdict]:
    """A verdict for every hour from ``start`` that has enough history (None: no data)."""
    floor = max(settings.min_change, 1e-12)
    expected: list[float | None] = []
    residuals: list[float | None] = []
    for i, v in enumerate(values):
        history = baseline(values, i, settings.days, epoch_hour, settings.min_history)
        if v is None or len(history) < settings.min_history:
            expected.append(None)
            residuals.append(None)
            continue
        e = statistics.median(history)
        expected.append(e)
        residuals.append(_relative(v, e, floor))
    out: list[Verdict] = []
    window = settings.days * HOURS_PER_DAY
    for i in range(max(start, 0), len(values)):
        seen, base = values[i], expected[i]
        if seen is None or base is None:
            continue
        # The yardstick comes from the hours before this one, never from it.
        recent = [r for r in residuals[max(0, i - window) : i] if r is not None]
        if len(recent) < settings.min_history:
            continue
        centre = statistics.median(recent)
        mad = statistics.median(abs(r - centre) for r in recent) * MAD_TO_SIGMA
        # Quiet hours (nights, weekends) are noisier relative to their level than busy
        # ones: the same hour's own residuals widen the yardstick where that is so.
        same = [r for r in baseline(residuals, i, settings.days) if r is not None]
        if len(same) >= settings.min_history:
            mid = statistics.median(same)
            mad = max(mad, statistics.median(abs(r - mid) for r in same) * MAD_TO_SIGMA)
        noise = max(mad, settings.min_relative_noise)
        r = _relative(seen, base, floor) - centre
        out.append(Verdict(i, seen, base, r / noise))
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
) -> list[Verdict]:
    """The anomalous hours from ``start`` on."""
    return [v for v in score_series(values, settings, start, epoch_hour) if anomalous(v, settings)]
