"""Runs of modestly high hours score together; a lone spike does not make a run."""

from __future__ import annotations

import math

import pytest

from tokenomy.anomalies.runs import run_scores


def test_a_run_adds_up() -> None:
    z: list[float | None] = [0.0, 0.0, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 0.0]
    scores = run_scores(z, hours=6, floor=1.0, clip=4.0)
    assert scores[2] == 2.5  # one hour: its own score
    assert scores[3] == pytest.approx(5 / math.sqrt(2))
    assert scores[7] == pytest.approx(15 / math.sqrt(6))
    assert scores[0] is None and scores[8] is None


def test_a_spike_then_ordinary_hours_is_not_a_run() -> None:
    z: list[float | None] = [0.0, 30.0, 1.2, 1.1, 0.5]
    scores = run_scores(z, hours=6, floor=1.0, clip=4.0)
    # 30 counts as 4: (4 + 1.2) / sqrt(2) and (4 + 1.2 + 1.1) / sqrt(3), not 30-ish.
    assert scores[2] == pytest.approx(5.2 / math.sqrt(2))
    assert scores[3] == pytest.approx(6.3 / math.sqrt(3))
    assert scores[4] is None


def test_a_gap_or_a_quiet_hour_ends_the_run() -> None:
    z: list[float | None] = [3.0, 3.0, None, 3.0, 0.5, 3.0]
    scores = run_scores(z, hours=6, floor=1.0, clip=4.0)
    assert scores[1] == pytest.approx(6 / math.sqrt(2))
    assert scores[3] == 3.0 and scores[5] == 3.0


def test_runs_longer_than_hours_are_cut() -> None:
    z: list[float | None] = [2.0] * 10
    assert run_scores(z, hours=4, floor=1.0, clip=4.0)[-1] == pytest.approx(8 / 2)
    assert run_scores(z, hours=0, floor=1.0, clip=4.0)[-1] == 2.0  # no runs: the hour alone
