"""The forecaster on synthetic weekly series: the weekly pattern is recovered, the 80%
intervals cover about 80% of what follows, short and stopped histories are handled."""

from __future__ import annotations

import random

import pytest

from tokenomy.forecast import forecast, model
from tokenomy.forecast.model import quantile

PATTERN = [1.4, 1.5, 1.3, 1.2, 1.0, 0.2, 0.4]  # Monday first: busy weekdays, quiet weekend


def weekly(days: int, seed: int, level: float = 10.0, noise: float = 0.2) -> list[float]:
    rng = random.Random(seed)
    return [level * PATTERN[i % 7] * rng.uniform(1 - noise, 1 + noise) for i in range(days)]


def test_the_weekly_pattern_is_recovered() -> None:
    fc = forecast(weekly(84, 1), 0, 14)
    assert fc.weekly
    mean = sum(PATTERN) / 7
    for got, want in zip(fc.factors, PATTERN, strict=True):
        assert abs(got - want / mean) < 0.15
    # The forecast follows the pattern: the next Saturday is the quietest day.
    expected = [b.expected for b in fc.days[:7]]
    assert min(expected) == expected[5]
    assert max(expected) == expected[1]


def test_the_series_may_start_on_any_weekday() -> None:
    values = weekly(87, 2)[3:]  # starts on a Thursday
    fc = forecast(values, 3, 7)
    assert fc.factors.index(min(fc.factors)) == 5


def test_intervals_cover_about_80_percent_over_many_series() -> None:
    inside_7 = inside_day = n_days = 0
    runs = 60
    for seed in range(runs):
        values = weekly(84 + 7, seed)
        fc = forecast(values[:84], 0, 7)
        actual = values[84:]
        band = fc.totals[7]
        inside_7 += band.low <= sum(actual) <= band.high
        for a, b in zip(actual, fc.days, strict=True):
            inside_day += b.low <= a <= b.high
            n_days += 1
    assert 0.6 <= inside_7 / runs <= 1.0
    assert 0.65 <= inside_day / n_days <= 0.95


def test_a_bias_free_forecast_of_the_totals() -> None:
    errors = []
    for seed in range(40):
        values = weekly(84 + 30, seed)
        fc = forecast(values[:84], 0, 30)
        errors.append(fc.totals[30].expected / sum(values[84:]) - 1)
    assert abs(quantile(errors, 0.5)) < 0.05


def test_a_short_history_says_so_and_widens_the_intervals() -> None:
    values = weekly(84, 3)
    short = forecast(values[-5:], 2, 7)
    assert not short.weekly
    assert short.history_days == 5
    assert any("only 5 days" in n for n in short.notes)
    long = forecast(values, 0, 7)
    width_short = (short.totals[7].high - short.totals[7].low) / short.totals[7].expected
    width_long = (long.totals[7].high - long.totals[7].low) / long.totals[7].expected
    assert width_short > width_long


def test_no_history_and_a_stopped_project_forecast_zero() -> None:
    empty = forecast([], 0, 7)
    assert empty.totals[30].high == 0 and empty.notes
    stopped = forecast([*weekly(40, 4), *[0.0] * 14], 0, 7)
    assert stopped.totals[7].expected == 0 and stopped.totals[30].high == 0
    assert any("stopped" in n for n in stopped.notes)


def test_zero_days_inside_the_history_are_fine() -> None:
    values = [v if i % 7 < 5 else 0.0 for i, v in enumerate(weekly(56, 5))]
    fc = forecast(values, 0, 7)
    assert fc.days[5].expected == 0 and fc.days[6].expected == 0
    assert fc.days[0].expected > 0
    assert all(b.low >= 0 for b in fc.days)


def test_weekday_factors_shrink_when_they_are_noise_and_not_when_they_are_a_pattern() -> None:
    def distance(factors: list[float]) -> float:
        return sum(abs(f - 1) for f in factors) / 7

    noise_raw = noise_kept = pattern_raw = pattern_kept = 0.0
    for seed in range(40):
        # Spend in rare bursts on random days: any weekday's median ratio is noise.
        rng = random.Random(seed)
        bursty = [rng.expovariate(1.0) * (20 if rng.random() < 0.15 else 1) for _ in range(56)]
        noise_raw += distance(_unshrunk_factors(bursty))
        noise_kept += distance(forecast(bursty, 0, 7).factors)
        steady = weekly(56, seed)
        pattern_raw += distance(_unshrunk_factors(steady))
        pattern_kept += distance(forecast(steady, 0, 7).factors)
    assert noise_kept < 0.6 * noise_raw
    assert pattern_kept > 0.95 * pattern_raw


def _unshrunk_factors(values: list[float]) -> list[float]:
    """The weekday factors before shrinkage: each weekday's median ratio to its week."""
    ratios: list[list[float]] = [[] for _ in range(7)]
    for w in range(len(values) // 7):
        week = values[w * 7 : w * 7 + 7]
        for i, v in enumerate(week):
            ratios[i].append(v / (sum(week) / 7))
    raw = [sorted(r)[len(r) // 2] for r in ratios]
    return [7 * r / sum(raw) for r in raw]


def test_the_band_always_holds_the_forecast_even_after_steady_growth() -> None:
    # Every past total was above its forecast (the project grew): the old bands, from the
    # errors' own percentiles, then started above the forecast itself.
    values = [10.0 * 1.02**i for i in range(84)]
    fc = forecast(values, 0, 30)
    for band in fc.totals.values():
        assert band.low < band.expected < band.high


def test_the_trend_is_carried_forward_when_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    values = [10.0 + 0.5 * i for i in range(56)]
    flat = forecast(values, 0, 7).totals[7].expected
    monkeypatch.setattr(model, "TREND_DAMP", 1.0)
    _, slope, days = model.level_and_trend(values)
    assert days == 28 and abs(slope - 0.5) < 1e-9
    trended = forecast(values, 0, 7).totals[7].expected
    # The line is continued: days 56..62 of 10 + 0.5 i (to within the small weekday
    # factors a rising line makes).
    assert abs(trended / sum(10.0 + 0.5 * i for i in range(56, 63)) - 1) < 0.01
    assert trended > flat


@pytest.mark.parametrize("seed", range(20))
def test_longer_totals_hold_the_shorter_ones_and_spikes_do_not_blow_up_the_band(
    seed: int,
) -> None:
    # A bursty project: mostly nothing, now and then a spike. Its log errors are huge, and
    # the 7- and 30-day bands come from errors of their own.
    rng = random.Random(seed)
    values = [rng.choice([0.0] * 6 + [rng.uniform(0.5, 2.5)]) for _ in range(40)]
    values[-1] = 1.0  # not a stopped series
    f = forecast(values, first_weekday=0, horizon=30)
    week, month = f.totals[7], f.totals[30]
    assert month.low >= week.low and month.high >= week.high
    busiest = max(values)
    for h, band in ((7, week), (30, month)):
        cap = max(band.expected * (1 + model.DEFAULT_HIGH), h * busiest)
        assert band.low <= band.expected <= band.high <= cap + 1e-9


def test_a_lone_spike_is_not_carried_forward_but_the_band_allows_it() -> None:
    """$12 a weekday for eight weeks, then one $3,000 incident last Friday: the expected
    week is a normal week's spend, not ten of them, and the band still reaches the spike's
    rate should it recur (it was a tight +-4% around $838 before)."""
    rng = random.Random(5)
    values = [0.0 if d % 7 >= 5 else rng.uniform(8, 16) for d in range(56)]
    values[53] = 3000.0  # a Friday (the series starts on a Monday)
    f = forecast(values, first_weekday=0, horizon=7)
    week = f.totals[7]
    normal = 5 * 12.0
    assert abs(week.expected - normal) / normal < 0.3
    assert week.low <= normal <= week.high
    assert week.high >= 7 * 3000 / 28  # the spike's rate over the level's window
    assert any("over 10x" in n for n in f.notes)
    # A spike that recurs (every Friday) is the pattern, and is carried forward.
    for d in range(4, 56, 7):
        values[d] = 3000.0
    assert forecast(values, first_weekday=0, horizon=7).totals[7].expected > 2000


@pytest.mark.parametrize("days", [1, 7])
def test_a_short_flat_history_still_has_an_upper_bound_above_the_forecast(days: int) -> None:
    f = forecast([10.0] * days, first_weekday=0, horizon=30)
    for h in (7, 30):
        band = f.totals[h]
        assert band.low < band.expected < band.high
