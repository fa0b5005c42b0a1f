"""A Redis cache that accepts connections but never answers must not slow every call: the
store gives up quickly, then leaves Redis alone for a while (the calls are served uncached)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

from tokenomy.cache.entry import CachedResponse
from tokenomy.cache.stores import RedisStore

pytest.importorskip("redis")


@pytest.fixture
def black_hole() -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP port that accepts and then says nothing; the accepted sockets are listed."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1], accepted
    server.close()
    for conn in accepted:
        conn.close()


def test_a_silent_redis_is_given_up_on_and_then_left_alone(
    black_hole: tuple[int, list[socket.socket]],
) -> None:
    port, accepted = black_hole

    async def run() -> None:
        store = RedisStore(f"redis://127.0.0.1:{port}/0")
        with pytest.raises(Exception, match=r"(?i)timeout"):
            await store.get("k")
        assert store.paused
        # While paused: a miss and a skipped write, without going back to the socket.
        seen = len(accepted)
        assert await store.get("k") is None
        await store.put("k", CachedResponse(b"{}"), ttl=60)
        assert len(accepted) == seen
        await store.close()

    asyncio.run(run())
