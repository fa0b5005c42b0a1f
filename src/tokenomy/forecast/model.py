"""The forecaster: daily values in, the next days' expected values and 80% intervals out.

Method (docs/forecast.md): the level is the mean of the last ``LEVEL_DAYS`` days in whole
weeks (optionally carried along its damped least-squares trend); a day's forecast is the
level times its weekday's factor. Weekday factors are the median, over the last
``SEASON_WEEKS`` weeks, of each day's ratio to its week's mean, each shrunk toward 1 by how
much of its distance from 1 the weeks' noise explains, and normalised to average 1; a
total over whole weeks does not depend on them. Intervals are not from a distribution
assumed normal: the model is replayed over its own history (rolling origins); the 80th
percentile of its absolute log errors of the h-day totals sets the totals' bands around
the forecast, and the 10th/90th percentiles of its daily errors the days'. With too few
past origins the totals' errors are bootstrapped from daily errors in blocks of a week,
and the bands widened; with under a week of days the bands come from a wide default.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import median

SEASON_WEEKS = 8
# Days of the level's window, and how much of its trend is carried forward: chosen on the
# early origins of bench/forecast.py, never on the reported ones.
LEVEL_DAYS = 28
TREND_DAMP = 0.0
MIN_SEASON_DAYS = 14  # two full weeks before the weekly pattern is trusted
STOPPED_DAYS = 14  # nothing spent in this many days: the series stopped
MIN_TOTAL_ERRORS = 6  # past h-day totals needed to use their errors directly
SHORT_WIDEN = 1.5
# The totals' bands x this: chosen on the early origins of bench/forecast.py for coverage
# nearest 80% (past errors over a few weeks understate what the next month can do).
BAND_SCALE = 1.5
# Relative errors assumed when there is not even a week of history (wide on purpose).
DEFAULT_LOW, DEFAULT_HIGH = -0.6, 0.9
# A day that spent this many times more than any other day of the history is a lone spike
# (an incident, a one-off batch): not a rate to carry forward (chosen, not tuned).
LONE_SPIKE = 10.0
LOW_Q, HIGH_Q = 0.1, 0.9
# A total's band in log terms without any past errors (about -50%, +90%), and the smallest
# actual / expected ratio a past error counts as (a total of 0 would be log 0).
DEFAULT_SPREAD = math.log(1.9)
SMALLEST_RATIO = 0.05


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
    if total <= 0:
        return [1.0] * 7
    factors = [7 * r / total for r in raw]
    shrunk = [1 + _pattern_share(f, r) * (f - 1) for f, r in zip(factors, ratios, strict=True)]
    total = sum(shrunk)
    return [7 * f / total for f in shrunk] if total > 0 else [1.0] * 7


def _pattern_share(factor: float, ratios: Sequence[float]) -> float:
    """How much of a weekday factor's distance from 1 is a pattern rather than the noise of
    estimating it from a few weeks (0-1, a James-Stein style shrinkage toward 1): a bursty
    project's factors are mostly noise, a busy team's are not, and a weekday that never
    spends keeps its 0. The noise is that of a median of the ratios (about 1.25 standard
    errors of their mean)."""
    distance = (factor - 1) ** 2
    if distance <= 0 or len(ratios) < 2:
        return 1.0
    mean = sum(ratios) / len(ratios)
    variance = sum((x - mean) ** 2 for x in ratios) / (len(ratios) - 1)
    noise = 1.25**2 * variance / len(ratios)
    return max(0.0, 1.0 - noise / distance)


def level_and_trend(values: Sequence[float]) -> tuple[float, float, int]:
    """The mean spend per day over the last ``LEVEL_DAYS`` days (in whole weeks when there
    is at least one), its least-squares slope per day damped by ``TREND_DAMP`` (0 under two
    weeks), and the window's length. A whole number of weeks holds each weekday equally
    often, so the mean needs no weekly factors: estimated from a bursty project's few weeks,
    those mostly add noise (bench/forecast.py)."""
    n = len(values)
    days = min(n, LEVEL_DAYS)
    if days >= 7:
        days -= days % 7
    window = list(values[n - days :])
    if not window:
        return 0.0, 0.0, 0
    spike = lone_spike(values)
    if spike is not None and spike[0] >= n - days:
        window[spike[0] - (n - days)] = spike[1]
    mean = sum(window) / days
    if days < MIN_SEASON_DAYS or TREND_DAMP == 0:
        return mean, 0.0, days
    middle = (days - 1) / 2
    spread = sum((i - middle) ** 2 for i in range(days))
    slope = sum((i - middle) * (v - mean) for i, v in enumerate(window)) / spread
    return mean, slope * TREND_DAMP, days


def lone_spike(values: Sequence[float]) -> tuple[int, float] | None:
    """(index, the largest other day) when one day spent over LONE_SPIKE times as much as
    any other day of the history: the level counts it as that other day. A spike that
    recurs (a weekly or monthly batch) has its like elsewhere in the history and stays."""
    if len(values) < 7:
        return None
    top = max(range(len(values)), key=values.__getitem__)
    others = max((v for i, v in enumerate(values) if i != top), default=0.0)
    if others > 0 and values[top] > LONE_SPIKE * others:
        return top, others
    return None


def point(values: Sequence[float], first_weekday: int, horizon: int) -> tuple[list[float], bool]:
    """Expected values of the next ``horizon`` days, and whether a weekly pattern was used:
    the level carried forward along its damped trend (never below 0), times each day's
    weekday factor."""
    factors = weekday_factors(values, first_weekday)
    weekly = factors != [1.0] * 7
    mean, slope, days = level_and_trend(values)
    n = len(values)
    middle = (days - 1) / 2  # the window's mean is its level at its middle day
    return [
        max(0.0, mean + slope * (middle + 1 + k)) * factors[(first_weekday + n + k) % 7]
        for k in range(horizon)
    ], weekly


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
    short = 1.0  # how much wider a short history makes every band
    if n < MIN_SEASON_DAYS:
        short = SHORT_WIDEN
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
        Band(max(0.0, e + short * d_low * level), e, max(e, e + short * d_high * level))
        for e in expect[:horizon]
    ]
    rng = random.Random(seed)
    bands: dict[int, Band] = {}
    for h in totals:
        exp_total = sum(expect[:h])
        errs = total_err.get(h, [])
        if len(errs) >= MIN_TOTAL_ERRORS:
            spread, w = log_spread(errs), BAND_SCALE * short
        elif len(daily_err) >= 7:
            spread = log_spread(_bootstrap(daily_err, level, exp_total, h, rng))
            w = BAND_SCALE * SHORT_WIDEN
            if h == max(totals):
                notes.append(
                    f"too little history for past {h}-day totals: their interval is "
                    "bootstrapped from daily errors and widened"
                )
        else:
            spread, w = DEFAULT_SPREAD, 1.0  # wide already
        bands[h] = Band(
            exp_total * math.exp(-w * spread), exp_total, exp_total * math.exp(w * spread)
        )
    recur = _spike_rate(values)
    if recur > 0:
        notes.append(
            "one day spent over 10x any other: not carried forward in the expected value; "
            "the upper bounds allow for it recurring"
        )
        days = [Band(b.low, b.expected, b.high + recur) for b in days]
        bands = {h: Band(b.low, b.expected, b.high + recur * h) for h, b in bands.items()}
    return Forecast(days, _consistent(bands, max(values)), n, weekly, factors, notes)


def _spike_rate(values: Sequence[float]) -> float:
    """Per day, what a lone spike in the level's window adds if it recurs as often (the
    excess over the day it is counted as, spread over the window)."""
    spike = lone_spike(values)
    _, _, days = level_and_trend(values)
    if spike is None or days == 0 or spike[0] < len(values) - days:
        return 0.0
    return (values[spike[0]] - spike[1]) / days


def _consistent(bands: dict[int, Band], busiest_day: float) -> dict[int, Band]:
    """The totals' bands made to agree with what spend is: never negative, so a longer
    total holds every shorter one (its bounds are at least theirs; each total's band is
    drawn from errors of its own, which for a bursty series need not agree), and an h-day
    total past h of the busiest day in the history is not an 80% bound but a guess (a
    series of rare spikes, whose log errors are huge, drew 90x its expected total)."""
    out: dict[int, Band] = {}
    floor = Band(0.0, 0.0, 0.0)
    for h in sorted(bands):
        b = bands[h]
        # Never below the default band's width: a flat history's busiest day is its mean.
        cap = max(b.expected * (1 + DEFAULT_HIGH), h * busiest_day)
        high = min(b.high, cap)
        floor = Band(max(b.low, floor.low), b.expected, max(high, floor.high))
        out[h] = floor
    return out


def log_spread(relative_errors: Sequence[float]) -> float:
    """The half-width, in log terms, that holds 80% of these relative errors (actual /
    expected - 1): the band is expected x e^(+-spread). Centred on the forecast rather than
    on the errors' own 10th and 90th percentiles: over a short history those are often all
    on one side (a project that grew), and the next weeks need not repeat it (the band
    then even excluded the forecast itself)."""
    logs = [abs(math.log(max(1 + e, SMALLEST_RATIO))) for e in relative_errors]
    return quantile(logs, HIGH_Q - LOW_Q)


def _bootstrap(
    daily_err: Sequence[float], level: float, expected: float, h: int, rng: random.Random
) -> list[float]:
    """Relative errors of an h-day total from 500 paths of daily errors drawn in blocks of
    7 consecutive days (errors of neighbouring days go together)."""
    if expected <= 0:
        return [0.0]
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
    return sims
