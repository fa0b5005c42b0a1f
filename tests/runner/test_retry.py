"""What counts as a rate limit, and how long backoff waits."""

from __future__ import annotations

import random

import pytest

from tokenomy.runner.retry import Backoff, is_rate_limited


@pytest.mark.parametrize(
    "text",
    [
        'API Error: 429 {"type":"error","error":{"type":"rate_limit_error"}}',
        'API Error: 529 {"type":"error","error":{"type":"overloaded_error"}}',
        "Claude AI usage limit reached|1760000000",
        "You've hit your usage limit. Upgrade to Pro",
        "exceeded retry limit, last status: 429 Too Many Requests",
        "Rate limit reached for gpt-5",
    ],
)
def test_rate_limits_are_recognised(text: str) -> None:
    assert is_rate_limited(text)


@pytest.mark.parametrize(
    "text",
    [None, "", "API Error: 500 Internal server error", "error_max_turns", "port 14290 in use"],
)
def test_other_errors_are_not_rate_limits(text: str | None) -> None:
    assert not is_rate_limited(text)


def test_backoff_doubles_with_jitter_and_stops_at_the_cap() -> None:
    backoff = Backoff(base=2.0, cap=10.0)
    rng = random.Random(7)
    for retry, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (4, 10.0), (9, 10.0)]:
        delays = [backoff.delay(retry, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered, not a fixed wait
