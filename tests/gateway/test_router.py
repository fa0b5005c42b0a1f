"""The router's choices: balancing, circuit breakers, rate limits, Retry-After, backoff."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from tokenomy.gateway.config import Deployment, RouterSettings
from tokenomy.gateway.providers import known_providers
from tokenomy.gateway.router import MinuteWindow, Router, retry_after_seconds


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def deployment(model: str, **kw: object) -> Deployment:
    provider = known_providers()["openai"]
    return Deployment(provider, model, "http://127.0.0.1:1/v1", None, **kw)  # type: ignore[arg-type]


def test_weighted_order_follows_the_weights() -> None:
    router = Router(RouterSettings(strategy="weighted"), rng=random.Random(7))
    heavy, light = deployment("heavy", weight=3), deployment("light", weight=1)
    firsts = Counter(router.order([heavy, light])[0].model for _ in range(4000))
    assert 0.72 < firsts["heavy"] / 4000 < 0.78  # 3 / (3 + 1), within sampling error
    assert sorted(d.model for d in router.order([heavy, light])) == ["heavy", "light"]


def test_ordered_keeps_the_list_and_least_busy_prefers_the_idle() -> None:
    a, b, c = deployment("a"), deployment("b"), deployment("c")
    assert [d.model for d in Router(RouterSettings()).order([a, b, c])] == ["a", "b", "c"]
    router = Router(RouterSettings(strategy="least-busy"), rng=random.Random(1))
    router.started(a)
    router.started(a)
    router.started(b)
    assert [d.model for d in router.order([a, b, c])] == ["c", "b", "a"]
    router.finished(a)
    router.finished(a)
    assert router.order([a, b, c])[-1].model == "b"


def test_the_circuit_opens_after_consecutive_failures_and_one_trial_closes_it() -> None:
    clock = FakeClock()
    router = Router(RouterSettings(failure_threshold=3, cooldown=30), clock=clock)
    d = deployment("flaky")
    for _ in range(2):
        router.failed(d)
    assert router.refusal(d) is None  # two failures: still closed
    router.succeeded(d)
    for _ in range(3):
        router.failed(d)
    refusal = router.refusal(d)
    assert refusal is not None and refusal.reason == "cooling"
    assert refusal.wait == pytest.approx(30)
    clock.now += 30.5
    assert router.refusal(d) is None  # half-open: one trial may go
    router.started(d)
    assert router.refusal(d) is not None  # ... and only one
    router.finished(d)
    router.failed(d)  # the trial failed: open again at once
    assert router.refusal(d) is not None
    clock.now += 31
    router.started(d)
    router.finished(d)
    router.succeeded(d)
    assert router.refusal(d) is None
    assert router.state(d).consecutive_failures == 0


def test_retry_after_parks_a_deployment_without_opening_its_circuit() -> None:
    clock = FakeClock()
    router = Router(RouterSettings(failure_threshold=1), clock=clock)
    d = deployment("limited")
    router.failed(d, retry_after=2.0)
    refusal = router.refusal(d)
    assert refusal is not None and refusal.wait == pytest.approx(2.0)
    assert not router.state(d).circuit_open
    clock.now += 2.1
    assert router.refusal(d) is None


def test_rpm_and_tpm_limits_refuse_until_the_minute_moves_on() -> None:
    router = Router(RouterSettings())
    d = deployment("small", rpm=2, tpm=100)
    router.started(d)
    router.finished(d, tokens=10)
    assert router.refusal(d) is None
    router.started(d)
    refusal = router.refusal(d)
    assert refusal is not None and refusal.reason == "rate_limited" and "2 rpm" in refusal.detail
    assert 0 < refusal.wait <= 60
    big = deployment("tokens", tpm=100)
    router.started(big)
    router.finished(big, tokens=150)
    refusal = router.refusal(big)
    assert refusal is not None and "100 tpm" in refusal.detail


def test_limits_are_shared_out_between_workers() -> None:
    router = Router(RouterSettings(), workers=4)
    d = deployment("shared", rpm=8)
    router.started(d)
    assert router.refusal(d) is None
    router.started(d)
    assert router.refusal(d) is not None  # 8 rpm over 4 workers: 2 each


def test_minute_window_forgets_after_sixty_seconds() -> None:
    window = MinuteWindow()
    window.add(100.2, 5)
    window.add(130.0, 3)
    assert window.total(130.5) == 8
    assert window.wait_until_below(130.5, 8) == pytest.approx(29.5)
    assert window.wait_until_below(130.5, 9) == 0.0
    assert window.total(160.5) == 3  # the first second has left the window
    assert window.total(191.0) == 0


def test_backoff_grows_with_full_jitter_and_a_ceiling() -> None:
    router = Router(RouterSettings(backoff=0.5, max_backoff=4), rng=random.Random(3))
    for round_index, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (6, 4.0)]:
        waits = [router.backoff(round_index) for _ in range(200)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert len(set(waits)) > 100  # jittered, not a fixed step
    assert Router(RouterSettings(backoff=0)).backoff(5) == 0.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-2"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_read_in_seconds_milliseconds_or_a_date(
    headers: dict[str, str], expected: float | None
) -> None:
    assert retry_after_seconds(headers) == expected


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(datetime(2026, 11, 21, 12, 0, 7, tzinfo=UTC), usegmt=True)
    assert retry_after_seconds({"retry-after": later}, now.timestamp()) == pytest.approx(7)
