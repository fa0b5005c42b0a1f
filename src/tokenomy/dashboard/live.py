"""``GET /api/v1/live``: server-sent events that keep the dashboard current.

Every ``interval`` seconds the stream sends a ``tick`` event: whether calls arrived since
the last one (the page then re-reads what it shows) and, from a gateway, the live state of
its deployments. Detecting new calls costs two index lookups, whatever the table's size.

A stream ends by itself after ``STREAM_SECONDS``; the page reconnects at once. That bounds
how long a server that is shutting down waits for open dashboards (it lets requests in
flight finish, and an event stream never would).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import orjson

from tokenomy.store.db import Database

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Snapshot = Callable[[], dict[str, Any]]

DEFAULT_INTERVAL = 2.0
STREAM_SECONDS = 15.0


# A key tied to a project or user hears only of its own calls started this recently (a
# range of the start-time index: the calls table has no index by project).
SCOPED_RECENT_MS = 15 * 60 * 1000


def data_version(db: Database, reads: Mapping[str, str] | None = None) -> tuple[Any, Any]:
    """The newest call's start time, and the newest write mark waiting for a rollup refresh
    (every write marks the hours it touched with a new, ordered id; a refresh removes them).
    A write changes one or the other, even an import of old calls. With ``reads`` (a key's
    project and user), only the newest recent call of those: another tenant's activity is
    none of its business."""
    if reads:
        where = " AND ".join(f'"{dim}" = ?' for dim in reads)
        since = int(time.time() * 1000) - SCOPED_RECENT_MS
        newest = db.query(
            f"SELECT MAX(started_at) FROM calls WHERE started_at >= ? AND {where}",
            (since, *reads.values()),
        )[0][0]
        return newest, None
    newest = db.query("SELECT MAX(started_at) FROM calls")[0][0]
    mark = db.query("SELECT MAX(mark) FROM rollup_dirty")[0][0]
    return newest, mark


async def stream(
    db: Database,
    receive: Receive,
    send: Send,
    *,
    interval: float = DEFAULT_INTERVAL,
    snapshot: Snapshot | None = None,
    lifetime: float = STREAM_SECONDS,
    reads: Mapping[str, str] | None = None,
) -> None:
    headers = [
        (b"content-type", b"text/event-stream; charset=utf-8"),
        (b"cache-control", b"no-cache"),
        (b"x-accel-buffering", b"no"),  # a proxy in front must not hold the events back
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    left = asyncio.ensure_future(_disconnected(receive))
    try:
        await _ticks(db, send, interval, snapshot, lifetime, left, reads)
    finally:
        left.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await left
    with contextlib.suppress(OSError):
        await send({"type": "http.response.body", "body": b""})


async def _ticks(
    db: Database,
    send: Send,
    interval: float,
    snapshot: Snapshot | None,
    lifetime: float,
    left: asyncio.Future[None],
    reads: Mapping[str, str] | None = None,
) -> None:
    # `retry` tells the browser how soon to reconnect after the stream ends.
    await send({"type": "http.response.body", "body": b"retry: 1000\n\n", "more_body": True})
    seen: tuple[Any, Any] | None = None
    end = time.monotonic() + lifetime
    while not left.done():
        version: tuple[Any, Any] | None
        try:
            version = await asyncio.to_thread(data_version, db, reads)
            error = None
        except Exception as exc:  # the database is away: say so, keep the stream
            version, error = seen, f"the database did not answer: {exc}"
        # A refresh that clears the marks is not news: only a new call or a new mark is.
        changed = (
            seen is not None
            and version is not None
            and (version[0] != seen[0] or (version[1] is not None and version[1] != seen[1]))
        )
        seen = version
        tick: dict[str, Any] = {"changed": changed, "newest_call_ms": version and version[0]}
        if error:
            tick["error"] = error
        if snapshot is not None:
            tick["gateway"] = snapshot()
        body = b"event: tick\ndata: " + orjson.dumps(tick) + b"\n\n"
        await send({"type": "http.response.body", "body": body, "more_body": True})
        left_s = end - time.monotonic()
        if left_s <= 0:
            return
        await asyncio.wait({left}, timeout=min(interval, left_s))


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
