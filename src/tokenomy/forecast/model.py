"""The forecaster: daily values in, the next days' expected values and 80% intervals out.

Method (docs/forecast.md): a weekly-seasonal level. Weekday factors are the median, over
the last ``SEASON_WEEKS`` weeks, of each day's ratio to its week's mean, normalised to
average 1; the level is simple exponential smoothing of the de-seasonalised days. The
forecast of a day is level x its weekday's factor. Intervals are not from a distribution
assumed normal: the model is replayed over its own history (rolling origins), and the
10th/90th percentiles of its relative errors (of each day, and of the h-day totals) set the
bands. With too few past origins the totals' errors are bootstrapped from daily errors in
blocks of a week, and the bands widened; with under a week of days there is no weekly
pattern, and the bands come from a wide default.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import median

SEASON_WEEKS = 8
ALPHA = 0.1  # chosen on the early origins of bench/forecast.py, never on the reported ones
MIN_SEASON_DAYS = 14  # two full weeks before the weekly pattern is trusted
STOPPED_DAYS = 14  # nothing spent in this many days: the series stopped
MIN_TOTAL_ERRORS = 6  # past h-day totals needed to use their errors directly
SHORT_WIDEN = 1.5
# Relative errors assumed when there is not even a week of history (wide on purpose).
DEFAULT_LOW, DEFAULT_HIGH = -0.6, 0.9
LOW_Q, HIGH_Q = 0.1, 0.9


@dataclass(frozen=True, slots=True)
class Band:
    low: float
    expected: float
    high: float

    def to_json(self) -> dict[str, float]:
        return {
            "low": round(self.low, 6),
            "expected": round(self.expected, 6),
            "high": round(self.high, 6),
        }


@dataclass(frozen=True, slots=True)
class Forecast:
    """Per day ahead (``days``) and per total horizon (``totals``, keyed by days)."""

    days: list[Band]
    totals: dict[int, Band]
    history_days: int
    weekly: bool
    factors: list[float]  # by weekday, Monday first (all 1.0 without a weekly pattern)
    notes: list[str] = field(default_factory=list)


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (as numpy's default)."""
    s = sorted(values)
    if not s:
        return 0.0
    pos = (len(s) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def weekday_factors(values: Sequence[float], first_weekday: int) -> list[float]:
    """Per weekday (0 = Monday): median of day / its 7-day window's mean, over the last
    ``SEASON_WEEKS`` whole weeks, normalised to average 1."""
    n = len(values)
    weeks = min(SEASON_WEEKS, n // 7)
    if weeks < MIN_SEASON_DAYS // 7:
        return [1.0] * 7
    start = n - weeks * 7
    ratios: list[list[float]] = [[] for _ in range(7)]
    for w in range(weeks):
        week = values[start + w * 7 : start + (w + 1) * 7]
        mean = sum(week) / 7
        if mean <= 0:
            continue
        for i, v in enumerate(week):
            ratios[(first_weekday + start + w * 7 + i) % 7].append(v / mean)
    if not all(ratios):
        return [1.0] * 7
    raw = [median(r) for r in ratios]
    total = sum(raw)
    return [7 * r / total for r in raw] if total > 0 else [1.0] * 7


def _level(values: Sequence[float], factors: Sequence[float], first_weekday: int) -> float:
    """Exponential smoothing of the de-seasonalised days (days whose factor is ~0 say
    nothing about the level and are skipped)."""
    level: float | None = None
    for i, v in enumerate(values):
        f = factors[(first_weekday + i) % 7]
        if f < 0.05:
            continue
        z = v / f
        level = z if level is None else ALPHA * z + (1 - ALPHA) * level
    return level or 0.0


def point(values: Sequence[float], first_weekday: int, horizon: int) -> tuple[list[float], bool]:
    """Expected values of the next ``horizon`` days, and whether a weekly pattern was used."""
    factors = weekday_factors(values, first_weekday)
    weekly = factors != [1.0] * 7
    level = _level(values, factors, first_weekday)
    n = len(values)
    return [level * factors[(first_weekday + n + k) % 7] for k in range(horizon)], weekly


def _replay(
    values: Sequence[float], first_weekday: int, horizon: int
) -> tuple[list[float], dict[int, list[float]]]:
    """The model's relative errors over its own history: each day's (actual - expected) /
    mean expected, and each total's actual / expected - 1 for every horizon up to
    ``horizon`` that fits."""
    daily: list[float] = []
    totals: dict[int, list[float]] = {}
    n = len(values)
    min_train = min(MIN_SEASON_DAYS, max(7, n // 2))
    for origin in range(min_train, n):
        ahead = min(horizon, n - origin)
        expect, _ = point(values[:origin], first_weekday, ahead)
        scale = sum(expect) / len(expect)
        if scale <= 0:
            continue
        actual = values[origin : origin + ahead]
        daily.extend((a - e) / scale for a, e in zip(actual, expect, strict=True))
        for h in range(1, ahead + 1):
            if (expected := sum(expect[:h])) > 0:  # a quiet weekend alone may expect 0
                totals.setdefault(h, []).append(sum(actual[:h]) / expected - 1)
    return daily, totals


def forecast(
    values: Sequence[float],
    first_weekday: int,
    horizon: int,
    totals: Sequence[int] = (7, 30),
    *,
    seed: int = 0,
) -> Forecast:
    """Forecast ``horizon`` days after ``values`` (one per day, oldest first; the first is
    a ``first_weekday``, 0 = Monday), with the sums of the first ``totals`` days."""
    n = len(values)
    longest = max(horizon, *totals)
    notes: list[str] = []
    if n == 0:
        zero = Band(0.0, 0.0, 0.0)
        return Forecast(
            [zero] * horizon,
            dict.fromkeys(totals, zero),
            0,
            False,
            [1.0] * 7,
            ["no history: nothing to forecast from"],
        )
    if n >= STOPPED_DAYS and not any(values[-STOPPED_DAYS:]):
        zero = Band(0.0, 0.0, 0.0)
        notes.append(f"nothing spent in the last {STOPPED_DAYS} days: taken as stopped")
        return Forecast([zero] * horizon, dict.fromkeys(totals, zero), n, False, [1.0] * 7, notes)
    expect, weekly = point(values, first_weekday, longest)
    factors = weekday_factors(values, first_weekday)
    daily_err, total_err = _replay(values, first_weekday, longest)
    widen = 1.0
    if n < MIN_SEASON_DAYS:
        widen = SHORT_WIDEN
        notes.append(
            f"only {n} days of history: no weekly pattern yet (needs {MIN_SEASON_DAYS}); "
            "intervals widened"
        )
    level = sum(expect[:7]) / 7
    if len(daily_err) >= 7:
        d_low, d_high = quantile(daily_err, LOW_Q), quantile(daily_err, HIGH_Q)
    else:
        d_low, d_high = DEFAULT_LOW, DEFAULT_HIGH
    days = [
        Band(max(0.0, e + widen * d_low * level), e, max(e, e + widen * d_high * level))
        for e in expect[:horizon]
    ]
    rng = random.Random(seed)
    bands: dict[int, Band] = {}
    for h in totals:
        exp_total = sum(expect[:h])
        errs = total_err.get(h, [])
        if len(errs) >= MIN_TOTAL_ERRORS:
            lo, hi = quantile(errs, LOW_Q), quantile(errs, HIGH_Q)
            w = widen
        elif len(daily_err) >= 7:
            lo, hi = _bootstrap(daily_err, level, exp_total, h, rng)
            w = max(widen, SHORT_WIDEN)
            if h == max(totals):
                notes.append(
                    f"too little history for past {h}-day totals: their interval is "
                    "bootstrapped from daily errors and widened"
                )
        else:
            lo, hi, w = DEFAULT_LOW, DEFAULT_HIGH, widen
        bands[h] = Band(
            max(0.0, exp_total * (1 + w * lo)), exp_total, max(exp_total, exp_total * (1 + w * hi))
        )
    return Forecast(days, bands, n, weekly, factors, notes)


def _bootstrap(
    daily_err: Sequence[float], level: float, expected: float, h: int, rng: random.Random
) -> tuple[float, float]:
    """Relative errors of an h-day total from 500 paths of daily errors drawn in blocks of
    7 consecutive days (errors of neighbouring days go together)."""
    if expected <= 0:
        return 0.0, 0.0
    sims: list[float] = []
    n = len(daily_err)
    for _ in range(500):
        total = 0.0
        drawn = 0
        while drawn < h:
            start = rng.randrange(n)
            for k in range(min(7, h - drawn)):
                total += daily_err[(start + k) % n] * level
                drawn += 1
        sims.append(total / expected)
    return quantile(sims, LOW_Q), quantile(sims, HIGH_Q)
