"""The detector on synthetic seasonal series (seeded), with anomalies injected at known hours."""

from __future__ import annotations

import math
import random

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
