"""The detector on synthetic seasonal series (seeded), with anomalies injected at known hours."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from tokenomy.anomalies import DetectorSettings, detect, score_series

DAYS = 21


def seasonal(seed: int, days: int = DAYS) -> list[float | None]:
    rng = random.Random(seed)
    out: list[float | None] = []
    for h in range(days * 24):
        level = 100 + 80 * math.sin(2 * math.pi * (h % 24) / 24)
        out.append(max(0.0, rng.gauss(level, level * 0.08)))
    return out


def test_finds_injected_spikes_and_level_shift() -> None:
    values = seasonal(1)
    spikes = {17 * 24 + 3, 18 * 24 + 15}
    for i in spikes:
        assert values[i] is not None
        values[i] = values[i] * 4  # type: ignore[operator]
    shift = range(20 * 24 + 10, 20 * 24 + 13)
    for i in shift:
        values[i] = values[i] + 150  # type: ignore[operator]
    found = {v.index for v in detect(values, DetectorSettings(min_change=20), 14 * 24)}
    assert spikes <= found
    assert set(shift) <= found
    assert found - spikes - set(shift) == set()


def test_no_false_alarm_on_a_clean_series() -> None:
    for seed in range(5):
        assert detect(seasonal(seed), DetectorSettings(min_change=20), 14 * 24) == []


def test_minimum_history() -> None:
    values = seasonal(2, days=4)
    values[-1] = 10_000.0
    settings = DetectorSettings(min_history=5)
    assert score_series(values, settings) == []  # 3 earlier days of that hour: no verdict
    values = seasonal(2, days=7)
    values[-1] = 10_000.0
    assert [v.index for v in detect(values, settings)] == [len(values) - 1]


def test_minimum_absolute_change_keeps_tiny_series_quiet() -> None:
    values: list[float | None] = [0.01] * (10 * 24)
    values[-1] = 0.2  # 20 times the usual, but 19 cents
    assert detect(values, DetectorSettings(min_change=1.0)) == []
    assert len(detect(values, DetectorSettings(min_change=0.1))) == 1


def test_drops_only_when_asked() -> None:
    values = seasonal(3)
    i = len(values) - 12
    values[i] = 0.0
    assert detect(values, DetectorSettings(min_change=20), i) == []
    both = DetectorSettings(min_change=20, both_ways=True)
    assert [v.index for v in detect(values, both, i)] == [i]


def test_missing_hours_are_skipped() -> None:
    values = seasonal(4)
    for i in range(0, len(values), 2):
        values[i] = None
    verdicts = score_series(values, DetectorSettings())
    assert verdicts and all(values[v.index] is not None for v in verdicts)


def traffic(seed: int, days: int = DAYS) -> tuple[list[float | None], list[int]]:
    """Hourly tokens as a sum over calls: the relative noise shrinks as 1/sqrt(calls)."""
    rng = random.Random(seed)
    values: list[float | None] = []
    calls: list[int] = []
    for h in range(days * 24):
        n = round(30 + 20 * math.sin(2 * math.pi * (h % 24) / 24))
        calls.append(n)
        values.append(n * 1000 * max(0.1, 1 + rng.gauss(0, 1.2 / math.sqrt(n))))
    return values, calls


def test_a_level_shift_is_caught_as_a_run() -> None:
    values, calls = traffic(3)
    shift = range(20 * 24 + 4, 20 * 24 + 10)  # 6 hours at x1.8, each only 2-5 sigmas
    for i in shift:
        values[i] = values[i] * 1.8  # type: ignore[operator]
    settings = DetectorSettings(min_change=1000)
    found = {v.index for v in detect(values, settings, 14 * 24, calls=calls)}
    assert set(shift[3:]) <= found  # from its 4th hour on, the run is beyond doubt
    assert found <= set(shift)  # and nothing else in the week is flagged
    # Judged hour by hour, most of the shift is missed.
    alone = replace(settings, run_hours=0)
    assert len({v.index for v in detect(values, alone, 14 * 24, calls=calls)}) <= 1


def test_a_spike_does_not_start_a_run() -> None:
    values, calls = traffic(3)
    i = 20 * 24 + 4
    values[i] = values[i] * 6  # type: ignore[operator]
    settings = DetectorSettings(min_change=1000)
    assert [v.index for v in detect(values, settings, 14 * 24, calls=calls)] == [i]


def failures(days: int = DAYS, calls: int = 20) -> tuple[list[float | None], list[int]]:
    """A small group: 20 calls an hour, one of them failing every 7th hour (0.7%)."""
    rates: list[float | None] = [1 / calls if h % 7 == 0 else 0.0 for h in range(days * 24)]
    return rates, [calls] * (days * 24)


def test_one_failure_in_a_small_hour_is_not_an_error_burst() -> None:
    settings = DetectorSettings(min_change=0.05)
    rates, calls = failures()
    i = len(rates) - 3
    rates[i] = 1 / 20  # 5%: at the 5-point minimum change, and an ordinary hour here
    assert detect(rates, settings, 14 * 24, calls=calls, rate=True) == []
    # Not one failure in two weeks, then one: still within chance for 20 calls.
    clean: list[float | None] = [0.0] * len(rates)
    clean[i] = 1 / 20
    assert detect(clean, settings, 14 * 24, calls=calls, rate=True) == []
    # Without the call counts, a median of 0% and a spread of 0 make it a 20-sigma event.
    assert [v.index for v in detect(clean, settings, 14 * 24)] == [i]


def test_an_error_burst_in_a_small_group_is_found() -> None:
    rates, calls = failures()
    burst = [len(rates) - 4, len(rates) - 3]
    for i in burst:
        rates[i] = 8 / 20
    found = detect(rates, DetectorSettings(min_change=0.05), 14 * 24, calls=calls, rate=True)
    assert [v.index for v in found] == burst
    assert all(v.expected > 0 for v in found)  # the usual daily rate, not the 0% median


def test_weekends_are_compared_with_weekends() -> None:
    monday = 4 * 24  # hours since 1970-01-01 of a Monday
    rng = random.Random(6)
    values: list[float | None] = []
    for h in range(DAYS * 24):
        level = 45.0 if (h // 24) % 7 >= 5 else 100.0
        values.append(rng.gauss(level, 2.0))
    saturday = 19 * 24 + 12  # 14 days back hold 4 weekend days: fewer than min_history
    verdict = next(v for v in score_series(values, DetectorSettings(), saturday, monday))
    assert verdict.index == saturday and abs(verdict.expected - 45) < 5
    both = DetectorSettings(min_change=10, both_ways=True)
    assert detect(values, both, 14 * 24, monday) == []


def test_days_and_weekends_are_the_users_not_utcs() -> None:
    """A team in Los Angeles spends the same every working hour (Mon-Fri 09-18 local) and
    nothing at weekends, for seven weeks across the end of DST. On UTC days its Friday
    afternoon falls on a UTC Saturday, compared with weekend hours, and every DST change
    shifts its day an hour: false anomalies every week. On its own clock: none."""
    zone = ZoneInfo("America/Los_Angeles")
    start = datetime(2026, 10, 1, tzinfo=UTC)
    epoch_hour = int(start.timestamp()) // 3600
    values: list[float | None] = []
    for h in range(52 * 24):
        local = datetime.fromtimestamp((epoch_hour + h) * 3600, zone)
        working = local.weekday() < 5 and 9 <= local.hour < 18
        values.append(2.0 if working else 0.0)
    settings = DetectorSettings(min_change=0.5)
    on_utc = detect(values, settings, 21 * 24, epoch_hour)
    assert len(on_utc) >= 4  # what the team was paged with before
    assert detect(values, settings, 21 * 24, epoch_hour, zone=zone) == []
