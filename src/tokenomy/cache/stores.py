"""Where cached responses live: in this process (LRU under a memory bound, the default),
in a SQLite file (survives restarts, shared by a host's workers), or in Redis (shared by
replicas). Every store expires entries after their TTL and never grows past its bound.

The interface is async because Redis is a network call; the in-process store answers
without awaiting anything slow (a dict lookup under a lock).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

from tokenomy.cache.entry import CachedResponse


class CacheStore(Protocol):
    async def get(self, key: str) -> CachedResponse | None: ...
    async def put(self, key: str, entry: CachedResponse, ttl: float) -> None: ...
    async def delete(self, key: str) -> None: ...
    async def close(self) -> None: ...


class MemoryStore:
    """Least recently used entries go first once ``max_bytes`` would be passed."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, tuple[float, CachedResponse]] = OrderedDict()
        self._lock = threading.Lock()

    def lookup(self, key: str) -> CachedResponse | None:
        now = time.monotonic()
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            expires, entry = found
            if expires <= now:
                del self._entries[key]
                self.bytes -= entry.size
                return None
            self._entries.move_to_end(key)
            return entry

    async def get(self, key: str) -> CachedResponse | None:
        return self.lookup(key)

    async def put(self, key: str, entry: CachedResponse, ttl: float) -> None:
        if entry.size > self.max_bytes:
            return  # larger than the whole cache: not kept
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= old[1].size
            self._entries[key] = (time.monotonic() + ttl, entry)
            self.bytes += entry.size
            while self.bytes > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self.bytes -= evicted.size

    async def delete(self, key: str) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= old[1].size

    def __len__(self) -> int:
        return len(self._entries)

    async def close(self) -> None:
        with self._lock:
            self._entries.clear()
            self.bytes = 0


_SQLITE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS response_cache ("
    "key TEXT PRIMARY KEY, expires_ms INTEGER NOT NULL, used_ms INTEGER NOT NULL, "
    "size INTEGER NOT NULL, value BLOB NOT NULL)"
)


class SQLiteStore:
    """A file of its own (not the calls database: cache churn must not bloat or lock it).
    Past ``max_bytes``, the least recently used entries are deleted."""

    def __init__(self, path: Path, max_bytes: int = 1024 * 1024 * 1024) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute(_SQLITE_SCHEMA)
        self._lock = threading.Lock()

    def _get(self, key: str) -> CachedResponse | None:
        now = int(time.time() * 1000)
        with self._lock:
            row = self._db.execute(
                "SELECT value, expires_ms FROM response_cache WHERE key = ?", (key,)
            ).fetchone()
            if row is None:
                return None
            if row[1] <= now:
                self._db.execute("DELETE FROM response_cache WHERE key = ?", (key,))
                return None
            self._db.execute("UPDATE response_cache SET used_ms = ? WHERE key = ?", (now, key))
        return CachedResponse.decode(bytes(row[0]))

    def _put(self, key: str, entry: CachedResponse, ttl: float) -> None:
        now = int(time.time() * 1000)
        value = entry.encode()
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO response_cache VALUES (?, ?, ?, ?, ?)",
                (key, now + int(ttl * 1000), now, len(value), value),
            )
            total = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM response_cache")
            excess = int(total.fetchone()[0]) - self.max_bytes
            if excess > 0:
                self._evict(excess, now)

    def _evict(self, excess: int, now: int) -> None:
        self._db.execute("DELETE FROM response_cache WHERE expires_ms <= ?", (now,))
        doomed: list[str] = []
        for key, size in self._db.execute(
            "SELECT key, size FROM response_cache ORDER BY used_ms"
        ).fetchall():
            if excess <= 0:
                break
            doomed.append(key)
            excess -= size
        self._db.executemany("DELETE FROM response_cache WHERE key = ?", [(k,) for k in doomed])

    async def get(self, key: str) -> CachedResponse | None:
        return await asyncio.to_thread(self._get, key)

    async def put(self, key: str, entry: CachedResponse, ttl: float) -> None:
        await asyncio.to_thread(self._put, key, entry, ttl)

    async def delete(self, key: str) -> None:
        def run() -> None:
            with self._lock:
                self._db.execute("DELETE FROM response_cache WHERE key = ?", (key,))

        await asyncio.to_thread(run)

    async def close(self) -> None:
        with self._lock:
            self._db.close()


class RedisStore:
    """Entries under ``<prefix><key>`` with Redis's own expiry; the memory bound is Redis's
    (set ``maxmemory`` with an LRU policy), and every replica sees every entry."""

    # A cache must never make a call slow: a Redis that does not answer is given up on
    # quickly, and then left alone for a while (each call would otherwise wait again).
    TIMEOUT = 0.5  # seconds, to connect and per command
    PAUSE = 30.0  # seconds without the cache after a failure

    def __init__(self, url: str, prefix: str = "tokenomy:cache:") -> None:
        import redis.asyncio

        self._redis = redis.asyncio.Redis.from_url(
            url, socket_connect_timeout=self.TIMEOUT, socket_timeout=self.TIMEOUT
        )
        self._prefix = prefix
        self._paused_until = 0.0

    @property
    def paused(self) -> bool:
        return time.monotonic() < self._paused_until

    async def get(self, key: str) -> CachedResponse | None:
        if self.paused:
            return None
        try:
            raw = await self._redis.get(self._prefix + key)
        except Exception:
            self._paused_until = time.monotonic() + self.PAUSE
            raise  # logged by the caller, once per pause
        if raw is None:
            return None
        return CachedResponse.decode(raw if isinstance(raw, bytes) else raw.encode("latin-1"))

    async def put(self, key: str, entry: CachedResponse, ttl: float) -> None:
        if self.paused:
            return
        try:
            await self._redis.set(self._prefix + key, entry.encode(), px=max(1, int(ttl * 1000)))
        except Exception:
            self._paused_until = time.monotonic() + self.PAUSE
            raise

    async def delete(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)

    async def close(self) -> None:
        await self._redis.aclose()
