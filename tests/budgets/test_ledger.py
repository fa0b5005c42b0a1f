"""The ledger's semantics, the same in memory and in real Redis: all or none across
budgets, seeding set only if absent, settlement, alerts once, and the Lua scripts'
atomicity under many concurrent reservations."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import redis

from tokenomy.budgets import (
    Admitted,
    Budget,
    Claim,
    Ledger,
    MemoryLedger,
    Refused,
    Scope,
    Unseeded,
    window,
)
from tokenomy.budgets.ledger import GRACE_MS, Settlement
from tokenomy.budgets.redis_ledger import RedisLedger

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
USD = 1_000_000_000


def claim(name: str, limit: int, *, mode: str = "hard", alert_at: tuple[str, ...] = ()) -> Claim:
    budget = Budget(
        name=name,
        scope=Scope(project="web"),
        period="daily",
        limit_nanos=limit,
        mode="soft" if mode == "soft" else "hard",
        alert_at=tuple(Decimal(a) for a in alert_at),
    )
    return Claim(budget, window("daily", budget.zone, NOW))


@pytest.fixture(params=["memory", "redis"])
def make_ledger(request: pytest.FixtureRequest) -> Iterator[Callable[[], Ledger]]:
    """A factory: each call is another client of the same ledger (another replica)."""
    if request.param == "memory":
        shared = MemoryLedger()
        yield lambda: shared
        return
    url: str = request.getfixturevalue("redis_url")
    yield lambda: RedisLedger(url)


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_an_unseeded_entry_reserves_nothing_until_seeded(
    make_ledger: Callable[[], Ledger], tag: str
) -> None:
    async def go() -> None:
        ledger = make_ledger()
        a, b = claim(f"a-{tag}", 10 * USD), claim(f"b-{tag}", 10 * USD)
        assert await ledger.reserve([a, b], USD, "t1") == Unseeded((0, 1))
        await ledger.seed(a, 3 * USD, 0)
        assert await ledger.reserve([a, b], USD, "t2") == Unseeded((1,))
        assert await ledger.balance(b) is None
        await ledger.seed(b, 0, 0)
        await ledger.seed(a, 9 * USD, 0)  # already seeded: a second seed changes nothing
        assert await ledger.reserve([a, b], USD, "t3") == Admitted((3 * USD, 0))
        balance = await ledger.balance(a)
        assert balance is not None and (balance.spent, balance.reserved) == (3 * USD, USD)
        await ledger.close()

    run(go())


def test_all_budgets_or_none(make_ledger: Callable[[], Ledger], tag: str) -> None:
    async def go() -> None:
        ledger = make_ledger()
        roomy, tight = claim(f"roomy-{tag}", 100 * USD), claim(f"tight-{tag}", 5 * USD)
        soft = claim(f"soft-{tag}", USD, mode="soft")
        for c in (roomy, tight, soft):
            await ledger.seed(c, 0, 0)
        assert isinstance(await ledger.reserve([roomy, tight, soft], 4 * USD, "t4"), Admitted)
        # The tight budget has 1 left: refused there, and nothing reserved on the others.
        assert await ledger.reserve([roomy, tight, soft], 2 * USD, "t5") == Refused(1, 0, 4 * USD)
        for c, reserved in ((roomy, 4 * USD), (tight, 4 * USD), (soft, 4 * USD)):
            balance = await ledger.balance(c)
            assert balance is not None and balance.reserved == reserved
        # A soft budget never refuses, even far over its limit.
        assert isinstance(await ledger.reserve([soft], 50 * USD, "t6"), Admitted)
        await ledger.close()

    run(go())


def test_settle_returns_the_estimate_and_adds_the_cost(
    make_ledger: Callable[[], Ledger], tag: str
) -> None:
    async def go() -> None:
        ledger = make_ledger()
        c = claim(f"s-{tag}", 10 * USD)
        await ledger.seed(c, USD, 0)
        await ledger.reserve([c], 3 * USD, "t7")
        await ledger.reserve([c], 3 * USD, "t8")
        await ledger.settle([c], Settlement.now("t7", 2 * USD))  # cheaper than estimated
        await ledger.settle([c], Settlement.now("t8", 0))  # failed before any tokens: released
        balance = await ledger.balance(c)
        assert balance is not None and (balance.spent, balance.reserved) == (3 * USD, 0)
        # Served without a reservation (the ledger was away): nothing held, cost added.
        await ledger.settle([c], Settlement.now("unchecked", USD))
        balance = await ledger.balance(c)
        assert balance is not None and balance.spent == 4 * USD
        await ledger.close()

    run(go())


def test_each_threshold_is_announced_once_per_period(
    make_ledger: Callable[[], Ledger], tag: str
) -> None:
    async def go() -> None:
        replica_a, replica_b = make_ledger(), make_ledger()
        c = claim(f"alerts-{tag}", 10 * USD, mode="soft", alert_at=("0.5", "0.8", "1"))
        await replica_a.seed(c, 0, 0)
        assert await replica_a.settle([c], Settlement.now("a", 4 * USD)) == []
        crossed = await replica_b.settle([c], Settlement.now("b", 5 * USD))  # 9: past 50%, 80%
        assert [(x.permille, x.spent) for x in crossed] == [(500, 9 * USD), (800, 9 * USD)]
        assert await replica_a.settle([c], Settlement.now("c", 0)) == []  # announced by B
        crossed = await replica_a.settle([c], Settlement.now("d", 2 * USD))
        assert [(x.permille, x.claim.budget.name) for x in crossed] == [(1000, c.budget.name)]
        await replica_a.close()
        if replica_b is not replica_a:
            await replica_b.close()

    run(go())


def test_an_entry_seeded_past_a_threshold_announces_it_at_its_first_settlement(
    make_ledger: Callable[[], Ledger], tag: str
) -> None:
    async def go() -> None:
        ledger = make_ledger()
        c = claim(f"seeded-{tag}", 10 * USD, mode="soft", alert_at=("0.5",))
        await ledger.seed(c, 7 * USD, 0)
        assert [x.permille for x in await ledger.settle([c], Settlement.now("t", 1))] == [500]
        await ledger.close()

    run(go())


def test_redis_entries_expire_after_their_period(redis_url: str, tag: str) -> None:
    c = claim(f"ttl-{tag}", USD)

    async def go() -> None:
        ledger = RedisLedger(redis_url)
        await ledger.seed(c, 0, 0)
        await ledger.reserve([c], 1, "t9")
        await ledger.close()

    run(go())
    client = redis.Redis.from_url(redis_url)
    try:
        expires_ms = client.pexpiretime(c.key)
    finally:
        client.close()
    assert expires_ms == c.window.end_ms + GRACE_MS
    assert c.key.startswith("tokenomy:{budgets}:ttl-")


def test_settling_an_entry_that_vanished_does_not_resurrect_it(redis_url: str, tag: str) -> None:
    c = claim(f"gone-{tag}", USD)

    async def go() -> None:
        ledger = RedisLedger(redis_url)
        await ledger.seed(c, 0, 0)
        await ledger.reserve([c], 100, "t10")
        client = redis.Redis.from_url(redis_url)
        client.delete(c.key)  # Redis restarted without persistence, or flushed
        client.close()
        await ledger.settle([c], Settlement.now("t10", 50))
        # Left for the next call to seed from the database (which has this call too).
        assert await ledger.balance(c) is None
        await ledger.close()

    run(go())


def test_concurrent_reservations_from_threads_never_exceed_the_limit(
    make_ledger: Callable[[], Ledger], tag: str
) -> None:
    """8 threads, each its own client (its own connection, like a replica), race 40
    reservations each at a budget with room for exactly 37 of the 320."""
    estimate = 7_000
    c = claim(f"race-{tag}", 37 * estimate + estimate - 1)
    run(_seed(make_ledger(), c))
    admitted: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        async def go() -> int:
            ledger = make_ledger()
            start.wait()
            won = 0
            for _ in range(40):
                if isinstance(await ledger.reserve([c], estimate, uuid.uuid4().hex), Admitted):
                    won += 1
            if isinstance(ledger, RedisLedger):
                await ledger.close()
            return won

        won = asyncio.run(go())
        with lock:
            admitted.append(won)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(admitted) == 37
    balance = run(_balance(make_ledger(), c))
    assert balance == (0, 37 * estimate)


async def _seed(ledger: Ledger, c: Claim) -> None:
    await ledger.seed(c, 0, 0)
    if isinstance(ledger, RedisLedger):
        await ledger.close()


async def _balance(ledger: Ledger, c: Claim) -> tuple[int, int]:
    balance = await ledger.balance(c)
    if isinstance(ledger, RedisLedger):
        await ledger.close()
    assert balance is not None
    return balance.spent, balance.reserved


def test_memory_entries_are_swept_after_their_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = MemoryLedger()
    c = claim("old", USD)
    run(ledger.seed(c, 5, 0))
    later = c.expire_at_ms / 1000 + 61
    monkeypatch.setattr(time, "time", lambda: later)
    assert run(ledger.reserve([c], 1, "t12")) == Unseeded((0,))


def test_settling_gives_back_what_the_ticket_holds_not_what_the_caller_believes(
    make_ledger: Callable[[], Ledger], tag: str
) -> None:
    """A reservation whose answer timed out (the caller served the call unchecked) was
    still made by the ledger: settling by its ticket gives it back. A ticket that holds
    nothing gives nothing back, so `reserved` never goes below zero."""

    async def go() -> None:
        ledger = make_ledger()
        c = claim(f"held-{tag}", 10 * USD)
        await ledger.seed(c, 0, 0)
        await ledger.reserve([c], 3 * USD, "timed-out")
        await ledger.settle([c], Settlement.now("timed-out", USD))
        await ledger.settle([c], Settlement.now("never-reserved", USD))
        await ledger.settle([c], Settlement.now("timed-out", USD))  # twice: held nothing now
        balance = await ledger.balance(c)
        assert balance is not None and (balance.spent, balance.reserved) == (3 * USD, 0)
        await ledger.close()

    run(go())


def test_an_entry_seeded_after_a_call_was_recorded_does_not_count_it_again(
    make_ledger: Callable[[], Ledger], tag: str
) -> None:
    """The ledger lost its data while calls were in flight or served unchecked; the next
    call seeds it from the database, whose sum already has the calls recorded by then.
    Their settlements, applied late, must not add them a second time, nor give back
    reservations made on the entry that was lost."""

    async def go() -> None:
        ledger = make_ledger()
        c = claim(f"reseeded-{tag}", 10 * USD)
        ended_ms = int(time.time() * 1000) - 60_000  # a minute ago, recorded since
        recorded = Settlement("lost-reservation", 2 * USD, ended_ms + 2_000)
        unchecked = Settlement("unchecked", USD, ended_ms + 2_000)
        await ledger.seed(c, 3 * USD, ended_ms + 30_000)  # the sum has both calls
        await ledger.settle([c], recorded)
        await ledger.settle([c], unchecked)
        # A call that ended after the seed was read is not in its sum: it counts.
        await ledger.settle([c], Settlement.now("in-flight", USD))
        balance = await ledger.balance(c)
        assert balance is not None and (balance.spent, balance.reserved) == (4 * USD, 0)
        await ledger.close()

    run(go())
