"""The noise models: binomial surprise of failure counts, the per-call scale, the spread."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from tokenomy.anomalies.noise import binomial_z, for_hour, mad, per_call, spread


def test_one_failure_in_a_small_hour_is_not_surprising() -> None:
    # 1% of calls fail: 1 of 20 happens in about one hour in six.
    assert binomial_z(1, 20, 0.01) < 2
    assert binomial_z(1, 5, 0.01) < 2.5


def test_a_burst_is_very_surprising_at_any_size() -> None:
    assert binomial_z(8, 20, 0.01) > 6
    assert binomial_z(60, 400, 0.01) > 12
    # The same 15% share is stronger evidence in a big hour than in a small one.
    assert binomial_z(60, 400, 0.01) > binomial_z(3, 20, 0.01)


def test_binomial_z_matches_the_exact_tail() -> None:
    # P(X >= 3) for Binomial(100, 0.01), mid-p: P(X > 3) + P(X = 3) / 2.
    pmf = [math.comb(100, k) * 0.01**k * 0.99 ** (100 - k) for k in range(101)]
    tail = sum(pmf[4:]) + pmf[3] / 2
    assert binomial_z(3, 100, 0.01) == pytest.approx(-statistics.NormalDist().inv_cdf(tail))


def test_binomial_z_is_signed_and_finite() -> None:
    assert binomial_z(0, 1000, 0.05) < -5  # far too few failures
    assert binomial_z(1000, 1000, 0.01) > 30  # a tail below any float: capped, finite
    assert binomial_z(0, 0, 0.01) == 0.0
    assert abs(binomial_z(10, 1000, 0.01)) < 0.5  # exactly the usual share


def test_per_call_scale_round_trips() -> None:
    assert for_hour(per_call(0.2, 100), 100) == pytest.approx(0.2)
    assert per_call(0.2, None) == 0.2 and for_hour(0.2, None) == 0.2
    assert per_call(0.2, 0) == 0.2  # an hour without calls counts as one


def test_spread_measures_a_long_upper_tail() -> None:
    rng = random.Random(5)
    normal = [rng.gauss(0, 1) for _ in range(2000)]
    skewed = [rng.lognormvariate(0, 1) for _ in range(2000)]
    assert spread(normal)[1] == pytest.approx(mad(normal)[1], rel=0.1)
    # Log-normal: the upper tail is far wider than the MAD says.
    assert spread(skewed)[1] > 1.5 * mad(skewed)[1]
