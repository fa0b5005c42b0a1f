"""The ledger: spent and reserved amounts per budget and period, changed atomically.

``reserve`` checks every budget a call counts against and reserves the estimate on all of
them or on none: for each hard budget, ``spent + reserved + estimate <= limit``.
``settle`` gives the estimate back and adds what the call cost. An entry whose spend is
not known yet (the first call of a period, or a ledger that lost its data) is reported
as unseeded instead of being assumed zero: the caller reads the spend so far from the
database and seeds it, set only if still absent, so replicas never count it twice.

Each reservation is held under its ticket's id, and settling gives back what that ticket
holds, not what the caller believes it reserved: a reservation whose answer timed out
(but which the ledger made) is still given back, and one made on an entry since lost is
never taken from the entry that replaced it. A call that holds nothing on an entry (it
was served while the ledger was away, or the entry was seeded again meanwhile) adds its
cost only if the entry was seeded from the database before the call's record could have
been written there (``Settlement.counted_before_ms``); otherwise the seed counted it.

Two implementations with the same semantics: :class:`MemoryLedger` (this process only)
here and :class:`~tokenomy.budgets.redis_ledger.RedisLedger` (shared by replicas).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from tokenomy.budgets.budget import Budget
from tokenomy.budgets.periods import Window

# Entries live this long after their period ends: a call that started in the period may
# settle after it, and `tokenomy budgets` can still read the period just ended.
GRACE_MS = 24 * 3600 * 1000
# A call's record is in the database this long after the call ends, at the latest (the
# gateway's batch writer flushes every 0.2 s): a seed read later than that has counted it.
RECORDED_WITHIN_MS = 2_000
KEY_PREFIX = "tokenomy:{budgets}:"  # one hash slot, so a script may touch every budget


class LedgerUnavailableError(RuntimeError):
    """The ledger cannot be reached (Redis down, or the database for seeding)."""


@dataclass(frozen=True, slots=True)
class Claim:
    """One budget in one period, as a call counts against it."""

    budget: Budget
    window: Window

    @property
    def key(self) -> str:
        return f"{KEY_PREFIX}{self.budget.name}:{self.window.id}"

    @property
    def expire_at_ms(self) -> int:
        return self.window.end_ms + GRACE_MS


@dataclass(frozen=True, slots=True)
class Admitted:
    spent: tuple[int, ...]  # each claim's spend when the reservation was made


@dataclass(frozen=True, slots=True)
class Refused:
    index: int  # the first hard budget that cannot take the estimate
    spent: int
    reserved: int


@dataclass(frozen=True, slots=True)
class Unseeded:
    indexes: tuple[int, ...]  # claims whose spend must be seeded first; nothing reserved


ReserveResult = Admitted | Refused | Unseeded


@dataclass(frozen=True, slots=True)
class Settlement:
    """What a finished call settles: the ticket whose reservation it gives back, and the
    cost it adds, unless a seed read at or after ``counted_before_ms`` counted it."""

    ticket: str
    actual: int
    counted_before_ms: int

    @classmethod
    def now(cls, ticket: str, actual: int) -> Settlement:
        return cls(ticket, actual, int(time.time() * 1000) + RECORDED_WITHIN_MS)


@dataclass(frozen=True, slots=True)
class Balance:
    spent: int
    reserved: int


@dataclass(frozen=True, slots=True)
class Crossing:
    """A budget's spend reached one of its alert thresholds (reported once per period)."""

    claim: Claim
    permille: int  # the threshold, e.g. 800 for 80% of the limit
    spent: int


class Ledger(Protocol):
    # Whether every gateway process sees the same entries (Redis) or only this one.
    shared: bool

    async def reserve(
        self, claims: Sequence[Claim], estimate: int, ticket: str
    ) -> ReserveResult: ...

    async def seed(self, claim: Claim, spent: int, read_at_ms: int) -> None:
        """``spent``: the database's sum, read at ``read_at_ms``."""

    async def settle(self, claims: Sequence[Claim], settlement: Settlement) -> list[Crossing]: ...

    async def balance(self, claim: Claim) -> Balance | None: ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class _Entry:
    spent: int
    expire_at_ms: int
    seeded_at_ms: int
    reserved: int = 0
    held: dict[str, int] = field(default_factory=dict)  # ticket -> its reservation
    alerted: set[int] = field(default_factory=set)


class MemoryLedger:
    """The ledger in this process's memory: exact for one gateway process, and blind to
    any other (a second replica, or ``--workers N``, keeps its own)."""

    shared: bool = False

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        # A lock rather than the event loop's single thread: the in-process SDK client
        # and tests drive one ledger from several threads.
        self._lock = threading.Lock()
        self._swept_at = 0.0

    async def reserve(self, claims: Sequence[Claim], estimate: int, ticket: str) -> ReserveResult:
        with self._lock:
            self._sweep()
            entries = [self._entries.get(c.key) for c in claims]
            missing = tuple(i for i, e in enumerate(entries) if e is None)
            if missing:
                return Unseeded(missing)
            present = [e for e in entries if e is not None]
            for i, (claim, entry) in enumerate(zip(claims, present, strict=True)):
                total = entry.spent + entry.reserved + estimate
                if claim.budget.hard and total > claim.budget.limit_nanos:
                    return Refused(i, entry.spent, entry.reserved)
            for entry in present:
                entry.reserved += estimate
                entry.held[ticket] = estimate
            return Admitted(tuple(e.spent for e in present))

    async def seed(self, claim: Claim, spent: int, read_at_ms: int) -> None:
        with self._lock:
            self._entries.setdefault(claim.key, _Entry(spent, claim.expire_at_ms, read_at_ms))

    async def settle(self, claims: Sequence[Claim], settlement: Settlement) -> list[Crossing]:
        crossed: list[Crossing] = []
        with self._lock:
            for claim in claims:
                entry = self._entries.get(claim.key)
                if entry is None:  # lost meanwhile: the next call seeds from the database
                    continue
                held = entry.held.pop(settlement.ticket, None)
                if held is not None:
                    entry.reserved -= held
                elif entry.seeded_at_ms >= settlement.counted_before_ms:
                    continue  # seeded after the call was recorded: the seed counted it
                entry.spent += settlement.actual
                for permille, amount in claim.budget.thresholds():
                    if entry.spent >= amount and permille not in entry.alerted:
                        entry.alerted.add(permille)
                        crossed.append(Crossing(claim, permille, entry.spent))
        return crossed

    async def balance(self, claim: Claim) -> Balance | None:
        with self._lock:
            entry = self._entries.get(claim.key)
            return None if entry is None else Balance(entry.spent, entry.reserved)

    async def close(self) -> None:
        return None

    def _sweep(self) -> None:
        """Drop entries past their expiry, at most once a minute."""
        now = time.time()
        if now - self._swept_at < 60:
            return
        self._swept_at = now
        now_ms = int(now * 1000)
        for key in [k for k, e in self._entries.items() if e.expire_at_ms <= now_ms]:
            del self._entries[key]
