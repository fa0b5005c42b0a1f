"""Budgets in the gateway: reserve a request's estimated cost on every budget it counts
against before forwarding it, refuse it in the client's protocol when a hard budget
cannot take it, and settle with the recorded cost when it ends (docs/budgets.md).

A cache hit never gets here: it costs nothing and is not counted. When the ledger cannot
be reached, ``budgets.on_redis_error`` decides: ``open`` serves and says so at ERROR
(at most every 10 seconds, with a count), ``closed`` answers 503. Settlements that fail
are kept and applied once the ledger answers again, so an outage does not erase spend.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tokenomy.budgets.alerts import AlertHook, announce
from tokenomy.budgets.budget import Who, matching, money
from tokenomy.budgets.estimate import estimate_usage, price
from tokenomy.budgets.ledger import (
    Claim,
    Ledger,
    LedgerUnavailableError,
    MemoryLedger,
    Refused,
    ReserveResult,
    Settlement,
    Unseeded,
)
from tokenomy.budgets.periods import window
from tokenomy.budgets.settings import BudgetSettings
from tokenomy.budgets.spend import spent_nanos
from tokenomy.gateway.proxy import ClientError, Request
from tokenomy.gateway.recorder import CallTrace
from tokenomy.pricing import PriceCatalog
from tokenomy.record import CallRecord
from tokenomy.store.db import Database, redact

if TYPE_CHECKING:
    from tokenomy.gateway.config import Deployment
    from tokenomy.keys import KeyInfo

log = logging.getLogger("tokenomy.budgets")

OUTAGE_LOG_SECONDS = 10.0  # an unreachable ledger is reported at most this often
MAX_BACKLOG = 100_000  # settlements kept while the ledger is away (then the oldest go)
SEED_ATTEMPTS = 3


@dataclass(slots=True)
class Ticket:
    """A call's reservation, handed back to :meth:`BudgetGuard.settle` when it ends."""

    claims: tuple[Claim, ...]
    estimate: int
    reserved: bool  # False when served without a reservation (ledger away, fail open)
    # The reservation's id in the ledger. A reservation whose answer timed out may still
    # have been made: settling by id gives it back all the same.
    id: str = ""
    settled: bool = False


class BudgetGuard:
    def __init__(
        self,
        settings: BudgetSettings,
        catalog: PriceCatalog | None = None,
        db: Database | None = None,
        *,
        ledger: Ledger | None = None,
        alert_hooks: list[AlertHook] | None = None,
    ) -> None:
        self.settings = settings
        self._catalog = catalog
        self.db = db  # where a period's spend so far is read from; None: it starts at 0
        if ledger is None:
            if settings.redis_url:
                from tokenomy.budgets.redis_ledger import RedisLedger

                ledger = RedisLedger(settings.redis_url)
            else:
                ledger = MemoryLedger()
        self.ledger = ledger
        # Subscribers to thresholds crossed (a list, so a reloaded guard can share it).
        self.alert_hooks: list[AlertHook] = alert_hooks if alert_hooks is not None else []
        where = redact(settings.redis_url) if settings.redis_url else "in memory"
        self._outage = _Outage(where, settings.on_redis_error)
        self._backlog: collections.deque[tuple[tuple[Claim, ...], Settlement]] = collections.deque(
            maxlen=MAX_BACKLOG
        )
        self._flushing = asyncio.Lock()
        self._seeding: dict[str, asyncio.Future[None]] = {}
        self._settling: set[asyncio.Task[None]] = set()
        self._warned_local = False
        self._open_tickets = 0  # reserved for, not settled yet
        self._retired = False
        self._owns_ledger = True
        self._closing: asyncio.Future[None] | None = None

    @property
    def catalog(self) -> PriceCatalog:
        """The recorder's prices; the packaged ones (loaded when first needed) without one."""
        if self._catalog is None:
            self._catalog = PriceCatalog.load(None)
        return self._catalog

    # -- before the call ------------------------------------------------------------------

    async def reserve(
        self,
        request: Request,
        chain: list[tuple[str, list[Deployment]]],
        trace: CallTrace,
        key: KeyInfo | None,
    ) -> Ticket | None:
        """Reserve the request's estimated cost, or raise the refusal the client gets.
        None when no budget covers the call."""
        who = Who(trace.org, trace.project, trace.user, trace.api_key_id)
        budgets = matching(self.settings.rules, who, key)
        if not budgets:
            return None
        self._warn_if_local()
        now = datetime.now(UTC)
        claims = tuple(Claim(b, window(b.period, b.zone, now)) for b in budgets)
        first = chain[0][1][0]
        usage = estimate_usage(request.json, request.operation, self.settings.default_max_tokens)
        estimate = price(
            self.catalog, first.provider.name, first.model, usage, int(now.timestamp() * 1000)
        )
        ticket = secrets.token_hex(8)
        try:
            result = await self._reserve(claims, estimate, ticket)
        except LedgerUnavailableError as exc:
            self._outage.failed(str(exc))
            if self.settings.on_redis_error == "closed":
                trace.attributes["budgets"] = "unavailable"
                raise ClientError(
                    503,
                    f"budgets cannot be checked, so this gateway refuses calls "
                    f"(budgets.on_redis_error: closed): {exc}. Try again shortly.",
                    "budget_unavailable",
                    [(b"retry-after", b"5")],
                ) from exc
            trace.attributes["budgets"] = "unchecked"
            self._open_tickets += 1
            return Ticket(claims, 0, reserved=False, id=ticket)
        self._outage.recovered()
        if isinstance(result, Refused):
            claim = claims[result.index]
            trace.attributes["budget"] = claim.budget.name
            raise _refusal(claim, result, estimate, now)
        self._open_tickets += 1
        return Ticket(claims, estimate, reserved=True, id=ticket)

    async def _reserve(
        self, claims: tuple[Claim, ...], estimate: int, ticket: str
    ) -> ReserveResult:
        for _ in range(SEED_ATTEMPTS):
            result = await self.ledger.reserve(claims, estimate, ticket)
            if not isinstance(result, Unseeded):
                return result
            await asyncio.gather(*(self._seed(claims[i]) for i in result.indexes))
        raise LedgerUnavailableError("budget entries vanished while being seeded, again and again")

    async def _seed(self, claim: Claim) -> None:
        """Seed one entry from the database; concurrent calls share one query."""
        pending = self._seeding.get(claim.key)
        if pending is None:
            pending = asyncio.ensure_future(self._read_and_seed(claim))
            self._seeding[claim.key] = pending

            def forget(done: asyncio.Future[None], key: str = claim.key) -> None:
                if self._seeding.get(key) is done:
                    del self._seeding[key]

            pending.add_done_callback(forget)
        await asyncio.shield(pending)

    async def _read_and_seed(self, claim: Claim) -> None:
        spent = 0
        read_at_ms = int(time.time() * 1000)  # the sum has every call recorded by now
        if self.db is not None:
            try:
                spent = await asyncio.to_thread(
                    spent_nanos, self.db, claim.budget.scope, claim.window
                )
            except Exception as exc:  # DatabaseError, or the driver's own (psycopg, sqlite3)
                raise LedgerUnavailableError(
                    f"cannot read the spend so far from the database: {exc}"
                ) from exc
        await self.ledger.seed(claim, spent, read_at_ms)

    def _warn_if_local(self) -> None:
        if not self._warned_local and not self.ledger.shared:
            self._warned_local = True
            log.warning(
                "budgets: no budgets.redis_url in tokenomy.yaml, so spend is counted in this "
                "process only; with more than one replica or --workers N, each enforces the "
                "limits on its own. Set redis_url to share them."
            )

    # -- after the call -------------------------------------------------------------------

    async def settle(self, ticket: Ticket, trace: CallTrace, record: CallRecord | None) -> None:
        """Give the reservation back and add what the call cost (the recorder's price),
        whatever happened to the client: the work goes on even if this task is cancelled.
        A ticket is settled once; later calls for it do nothing."""
        if ticket.settled:
            return
        ticket.settled = True
        settlement = Settlement.now(ticket.id, self.actual_cost(trace, record))
        task = asyncio.ensure_future(self._settle(ticket.claims, settlement))
        self._settling.add(task)
        task.add_done_callback(self._settled)
        await asyncio.shield(task)

    def _settled(self, task: asyncio.Task[None]) -> None:
        self._settling.discard(task)
        self._open_tickets -= 1
        if self._retired and self._open_tickets == 0:
            self._closing = asyncio.ensure_future(self.close())

    def actual_cost(self, trace: CallTrace, record: CallRecord | None) -> int:
        """The cost as the recorder prices it (same catalog, model, usage and time), so
        the ledger and the records agree; an unpriced model at the fallback price."""
        if record is not None and record.cost_nanos is not None:
            return record.cost_nanos
        usage = trace.usage
        if trace.cache_hit != "none" or usage is None or usage.total == 0:
            return 0
        model = trace.response_model or trace.deployment_model
        return price(self.catalog, trace.provider, model, usage, trace.started_ms)

    async def _settle(self, claims: tuple[Claim, ...], settlement: Settlement) -> None:
        try:
            if self._backlog:
                await self._flush_backlog()
            crossings = await self.ledger.settle(claims, settlement)
        except LedgerUnavailableError as exc:
            self._backlog.append((claims, settlement))
            self._outage.failed(f"{exc} (settlement kept to apply later)", counted=False)
            return
        announce(crossings, self.alert_hooks)

    async def _flush_backlog(self) -> None:
        async with self._flushing:
            while self._backlog:
                item = self._backlog.popleft()
                try:
                    crossings = await self.ledger.settle(*item)
                except LedgerUnavailableError:
                    self._backlog.appendleft(item)
                    raise
                announce(crossings, self.alert_hooks)

    def successor(self, settings: BudgetSettings) -> BudgetGuard:
        """The guard for a reloaded config. It keeps this one's ledger when the ledger's
        place is unchanged (an in-memory ledger's counts survive); this one stays for the
        calls it reserved for, and lets its own ledger go when the last has settled."""
        same = settings.redis_url == self.settings.redis_url
        new = BudgetGuard(
            settings,
            self._catalog,
            self.db,
            ledger=self.ledger if same else None,
            alert_hooks=self.alert_hooks,
        )
        self._owns_ledger = not same
        self._retired = True
        if self._open_tickets == 0:
            self._closing = asyncio.ensure_future(self.close())
        return new

    async def close(self) -> None:
        """Wait for settlements under way, then let go of the ledger."""
        if self._settling:
            await asyncio.wait(set(self._settling), timeout=5)
        if self._backlog:
            log.error(
                "budgets: %d settlements could not be written to the ledger before shutdown",
                len(self._backlog),
            )
        if self._owns_ledger:
            await self.ledger.close()


def _refusal(claim: Claim, refused: Refused, estimate: int, now: datetime) -> ClientError:
    budget, period = claim.budget, claim.window
    limit = budget.limit_nanos
    resets = f"It resets at {period.end.isoformat()} ({budget.timezone})."
    head = (
        f"{budget.label} ({budget.scope.describe()}) has spent {money(refused.spent)} of its "
        f"{money(limit)} {budget.period} limit"
    )
    if estimate > limit:
        text = (
            f"{head}; this request alone could cost up to {money(estimate)}, more than the "
            f"whole limit: lower max_tokens. {resets}"
        )
        wait, again = period.seconds_left(now), False
    elif refused.spent + estimate > limit:
        text = f"{head}, and this request could cost up to {money(estimate)}. {resets}"
        wait, again = period.seconds_left(now), False
    else:
        # What is left is held by requests in flight: it may come back within seconds.
        text = (
            f"{head}, and {money(refused.reserved)} is held by requests in flight; this "
            f"request could cost up to {money(estimate)}. Retry in a moment or lower "
            f"max_tokens. {resets}"
        )
        wait, again = 1, True
    headers = [
        (b"retry-after", str(wait).encode()),
        # The OpenAI and Anthropic SDKs honour this: no quick retries against a used-up budget.
        (b"x-should-retry", b"true" if again else b"false"),
    ]
    return ClientError(429, f"Budget exceeded: {text}", "budget_exceeded", headers)


class _Outage:
    """Loud but bounded reporting of an unreachable ledger."""

    def __init__(self, where: str, policy: str) -> None:
        self.where = where
        self.policy = policy
        self.count = 0
        self.down = False
        self.logged_at = float("-inf")

    def failed(self, reason: str, *, counted: bool = True) -> None:
        """``counted``: a call refused or let through (not a settlement kept for later)."""
        self.count += counted
        self.down = True
        now = time.monotonic()
        if now - self.logged_at < OUTAGE_LOG_SECONDS:
            return
        if self.policy == "closed":
            what = "call(s) refused with 503 (budgets.on_redis_error: closed)"
        else:
            what = "call(s) served WITHOUT budget checks (budgets.on_redis_error: open)"
        log.error(
            "budgets: the ledger (%s) is unreachable: %s; %d %s since the last message",
            self.where,
            reason,
            self.count,
            what,
        )
        self.logged_at, self.count = now, 0

    def recovered(self) -> None:
        if self.down:
            self.down = False
            log.warning(
                "budgets: the ledger (%s) answers again; %d more call(s) were affected",
                self.where,
                self.count,
            )
            self.count, self.logged_at = 0, float("-inf")
