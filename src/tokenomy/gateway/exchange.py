"""The client's side of one gateway exchange: a ``send`` that knows how far the answer
has gone (and settles and caches just before its last bytes), and the watch for a client
that leaves before it has its answer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from tokenomy.gateway.budget_guard import BudgetGuard, Ticket
from tokenomy.gateway.proxy import Message, Send
from tokenomy.gateway.recorder import CallTrace
from tokenomy.gateway.response_cache import HEADER as CACHE_HEADER
from tokenomy.gateway.response_cache import Capture

Receive = Callable[[], Awaitable[Message]]


def then_settle(
    first: Callable[[], Awaitable[None]] | None,
    guard: BudgetGuard,
    ticket: Ticket,
    trace: CallTrace,
) -> Callable[[], Awaitable[None]]:
    """Settle the budget just before the answer's last bytes go out: the client cannot
    send its next request while this one still holds its reservation, so the overspend
    bound counts requests in flight, nothing more (docs/budgets.md)."""

    async def before_end() -> None:
        if first is not None:
            await first()
        await guard.settle(ticket, trace, None)

    return before_end


class TrackedSend:
    """``send`` that knows when the response has started and when it was sent whole. For
    the response cache it also marks the response (``x-tokenomy-cache``), keeps a copy,
    and runs ``before_end`` just before the last message."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False
        self.complete = False
        self.marker: bytes | None = None
        self.capture: Capture | None = None
        self.before_end: Callable[[], Awaitable[None]] | None = None

    async def __call__(self, message: Message) -> None:
        kind = message["type"]
        last = kind == "http.response.body" and not message.get("more_body", False)
        if kind == "http.response.start":
            message = self._started(message)
        elif kind == "http.response.body" and self.capture is not None:
            self.capture.add(message.get("body", b""))
        if last and self.before_end is not None:
            await self.before_end()
        await self._send(message)
        if kind == "http.response.start":
            self.started = True
        elif last:
            self.complete = True

    def _started(self, message: Message) -> Message:
        if self.marker is not None:
            headers = [*message.get("headers", []), (CACHE_HEADER.encode(), self.marker)]
            message = {**message, "headers": headers}
        if self.capture is not None:
            self.capture.status = message["status"]
            for name, value in message.get("headers", []):
                if name.lower() == b"content-type":
                    self.capture.content_type = value.decode("latin-1")
        return message


# How long a stream whose answer the client already has may take to end upstream.
SETTLE_AFTER_ANSWER_S = 10.0


async def unless_client_leaves(
    work: Awaitable[None], receive: Receive, trace: CallTrace, reply: TrackedSend
) -> None:
    """Run ``work`` (the upstream call and relay); if the client disconnects first, cancel
    it, so nobody pays for an answer no one will read. (The server also reports a
    disconnect once the response is complete: that is no reason to cancel anything.)"""
    job = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(wait_for_disconnect(receive))
    try:
        await asyncio.wait({job, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if not job.done() and reply.complete:
            await job
        elif not job.done() and trace.answered:
            # The client read the answer's last event and left before the final chunk: the
            # call succeeded. Let it settle (record, cache) unless the provider then stalls.
            await asyncio.wait({job}, timeout=SETTLE_AFTER_ANSWER_S)
    finally:
        if not job.done():
            job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await job
            if trace.error_type is None:  # a provider's error already ended the answer
                trace.fail("client_disconnected", "the client closed the connection first", 499)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    if not job.cancelled():  # cancelled: the client left, which is recorded, not an error
        job.result()


async def wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
