"""Reading an ASGI request's body with a size bound, shared by the gateway and the
analytics API (each answers an oversized body in its own protocol's error shape)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class BodyTooLargeError(Exception):
    """The body passed ``limit`` bytes: reading stopped there, nothing more is buffered."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body over {limit} bytes")
        self.limit = limit


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole body; :class:`BodyTooLargeError` past ``limit`` bytes, and
    ``asyncio.CancelledError`` if the client leaves before sending it all."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise asyncio.CancelledError  # the client left before sending its request
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(limit)
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)
