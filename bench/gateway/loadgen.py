"""An open-loop HTTP/1.1 load generator: request *i* leaves at ``start + i / rate`` whether or
not earlier ones have been answered.

Why not ``hey -q``: its workers are rate-limited by tickers that all start together, so
``-c 50 -q 2`` sends all 50 requests together every half second instead of one every
10 ms; a proxy is then measured on bursts, not on a rate. A closed-loop generator
(hey, wrk) also slows down when the server does, which hides a server that cannot keep up.
Here a slow server gets more open connections, never fewer requests, and shows as a lower
achieved rate and a higher latency.

Latency runs from the moment a request is handed to the socket (or to the connect, when no
idle keep-alive connection is free) until its response is complete. How late each send was
against its schedule is kept too (``lag``): if the generator itself falls behind, the
figures say so instead of blaming the server.

Uses uvloop and httptools' C parser (both dependencies of tokenomy) so that one Python
process offers 3,000 req/s for a small share of a core.
"""

from __future__ import annotations

import asyncio
import math
import time
from array import array
from dataclasses import dataclass, field
from typing import cast

import httptools


@dataclass(frozen=True, slots=True)
class Load:
    host: str
    port: int
    path: str
    body: bytes
    rate: float
    duration: float
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = 30.0
    # Past this many unanswered requests new ones are dropped (and counted), so an
    # overloaded server cannot exhaust file descriptors or the kernel's accept queue.
    max_in_flight: int = 3000

    def request_bytes(self) -> bytes:
        lines = [
            f"POST {self.path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Content-Type: application/json",
            f"Content-Length: {len(self.body)}",
            *(f"{name}: {value}" for name, value in self.headers),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass(slots=True)
class Results:
    """Every request's outcome, in seconds relative to the run's start."""

    offered: float
    duration: float
    scheduled: int = 0
    sent: int = 0
    dropped: int = 0
    timeouts: int = 0
    # Could not connect (the request never reached the server) / connection lost mid-call.
    connect_errors: int = 0
    conn_errors: int = 0
    # Answered requests (any status): latency, status and when each finished.
    latencies: array[float] = field(default_factory=lambda: array("d"))
    statuses: array[int] = field(default_factory=lambda: array("H"))
    finished_at: array[float] = field(default_factory=lambda: array("d"))
    lags: array[float] = field(default_factory=lambda: array("d"))
    first_send: float = 0.0

    @property
    def ok(self) -> int:
        return sum(1 for s in self.statuses if s == 200)

    @property
    def http_errors(self) -> int:
        return sum(1 for s in self.statuses if s != 200)

    @property
    def errors(self) -> int:
        return (
            self.http_errors + self.timeouts + self.connect_errors + self.conn_errors + self.dropped
        )

    @property
    def delivered(self) -> int:
        """Requests that reached the server (sent on a connection it had accepted)."""
        return self.sent - self.connect_errors

    def achieved_rate(self) -> float:
        """Successful responses per second, from the first send to the last answer (an
        overloaded server's answers trail past the offered window and lower this)."""
        ok_times = [t for t, s in zip(self.finished_at, self.statuses, strict=True) if s == 200]
        if not ok_times:
            return 0.0
        span = max(max(ok_times) - self.first_send, self.duration)
        return len(ok_times) / span

    def latency_ms(self, q: float, *, ok_only: bool = True) -> float:
        values = (
            [lat for lat, s in zip(self.latencies, self.statuses, strict=True) if s == 200]
            if ok_only
            else list(self.latencies)
        )
        return percentile(values, q) * 1000

    def lag_ms(self, q: float) -> float:
        return percentile(list(self.lags), q) * 1000


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..100): a value that was actually observed."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self, gen: _Generator) -> None:
        self.gen = gen
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.started = 0.0
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def send(self, started: float) -> None:
        assert self.transport is not None
        self.started, self.busy = started, True
        self.gen.busy.add(self)
        self.transport.write(self.gen.request)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.abort()

    def on_message_complete(self) -> None:
        self.busy = False
        self.gen.answered(self, self.parser.get_status_code(), self.parser.should_keep_alive())

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.gen.lost(self)


class _Generator:
    def __init__(self, load: Load, results: Results) -> None:
        self.load = load
        self.results = results
        self.request = load.request_bytes()
        self.idle: list[_Connection] = []
        self.busy: set[_Connection] = set()
        self.in_flight = 0
        self.t0 = 0.0
        self.drained = asyncio.Event()

    def fire(self, due: float) -> None:
        res = self.results
        res.scheduled += 1
        now = time.perf_counter()
        if self.in_flight >= self.load.max_in_flight:
            res.dropped += 1
            return
        self.in_flight += 1
        self.drained.clear()
        res.lags.append(now - due)
        if res.sent == 0:
            res.first_send = now - self.t0
        res.sent += 1
        if self.idle:
            self.idle.pop().send(now)
        else:
            asyncio.get_running_loop().create_task(self._connect_and_send(now))

    async def _connect_and_send(self, started: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(self), self.load.host, self.load.port),
                self.load.timeout,
            )
        except (OSError, TimeoutError):
            self.results.connect_errors += 1
            self._finished()
            return
        conn.send(started)

    def answered(self, conn: _Connection, status: int, keep_alive: bool) -> None:
        now = time.perf_counter()
        self.busy.discard(conn)
        res = self.results
        res.latencies.append(now - conn.started)
        res.statuses.append(status)
        res.finished_at.append(now - self.t0)
        if keep_alive:
            self.idle.append(conn)
        else:
            conn.abort()
        self._finished()

    def lost(self, conn: _Connection) -> None:
        if conn in self.busy:  # closed with a request unanswered
            self.busy.discard(conn)
            self.results.conn_errors += 1
            self._finished()
        if conn in self.idle:
            self.idle.remove(conn)

    def expire(self, *, everything: bool = False) -> None:
        """Abort requests older than the timeout (or all unanswered ones); each counts as a
        timeout."""
        limit = math.inf if everything else time.perf_counter() - self.load.timeout
        for conn in [c for c in self.busy if c.started < limit]:
            self.busy.discard(conn)
            self.results.timeouts += 1
            self._finished()
            conn.abort()

    def _finished(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self.drained.set()

    def close(self) -> None:
        for conn in [*self.idle, *self.busy]:
            conn.abort()


async def run_load(load: Load) -> Results:
    """Offer ``load.rate`` req/s for ``load.duration`` seconds, then wait for the answers
    (at most ``load.timeout`` more)."""
    results = Results(offered=load.rate, duration=load.duration)
    gen = _Generator(load, results)
    total = round(load.rate * load.duration)
    interval = 1.0 / load.rate
    gen.t0 = start = time.perf_counter()
    gen.drained.set()
    next_expiry = start + 1.0
    i = 0
    while i < total:
        now = time.perf_counter()
        # Everything due by now leaves now (a late loop catches up, it does not skip).
        while i < total and start + i * interval <= now:
            gen.fire(start + i * interval)
            i += 1
        if now >= next_expiry:
            gen.expire()
            next_expiry = now + 1.0
        # Always yield, even when already late, so answers keep being read.
        await asyncio.sleep(max(0.0, start + i * interval - time.perf_counter()))
    deadline = time.perf_counter() + load.timeout
    while not gen.drained.is_set() and time.perf_counter() < deadline:
        try:
            await asyncio.wait_for(gen.drained.wait(), 1.0)
        except TimeoutError:
            gen.expire()
    gen.expire(everything=True)
    gen.close()
    return results
