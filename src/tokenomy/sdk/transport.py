"""Transports that watch an SDK client's HTTP traffic without changing it.

The OpenAI and Anthropic SDKs send every request through an httpx-style client
(``httpx2`` in current releases, ``httpx`` in older ones; both share one API). Replacing
that client's transport with one that wraps the original is the narrowest hook there is:
it touches one client object, nothing global, and sees each HTTP attempt with its bytes
exactly as the SDK reads them.

This module is only the plumbing: it asks an :class:`Observer` whether to watch a request,
and tells the :class:`Attempt` it returns what happened (connection error, response,
each chunk, the end). What those events mean is the observer's business
(:mod:`tokenomy.sdk.track`).

Which httpx the client uses is known only at run time, and the SDK checks that the
response stream is an instance of *that* module's ``SyncByteStream``/``AsyncByteStream``.
So the classes here are mixins, combined with the client module's base classes by
:func:`bind` when a client is tracked.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

if TYPE_CHECKING:
    # Typed against httpx2; httpx has the same API, and the module actually used is the
    # one the tracked client was built with.
    import httpx2

log = logging.getLogger("tokenomy.sdk")

T = TypeVar("T")


class Attempt(Protocol):
    """One HTTP attempt being watched. Called in this order: ``failed`` (no response) or
    ``responded``, then ``received`` per body chunk, then ``ended`` once."""

    def failed(self, exc: BaseException) -> None: ...

    def responded(self, response: httpx2.Response) -> None: ...

    def received(self, chunk: bytes) -> None: ...

    def ended(self, error: BaseException | None, *, exhausted: bool) -> None: ...


class Observer(Protocol):
    def begin(self, request: httpx2.Request) -> tuple[httpx2.Request, Attempt] | None:
        """The request to send (possibly a changed copy) and its attempt, or None to let
        the request through unwatched."""
        ...


class Guard:
    """Runs observer code so that its failure can never become the user's failure.

    A bug in our recording, a full record buffer or an unreachable database must not cost
    the user the answer they paid for: the exception is swallowed and logged, with its
    traceback the first time only (once per tracked client), so a broken recorder cannot
    flood the application's logs either.
    """

    def __init__(self) -> None:
        self._warned = False

    def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        try:
            return fn(*args, **kwargs)
        except Exception:
            if not self._warned:
                self._warned = True
                log.warning(
                    "tokenomy could not record an SDK call (the call itself is unaffected)",
                    exc_info=True,
                )
            else:
                log.debug("tokenomy could not record an SDK call", exc_info=True)
            return None


def httpx_module(http_client: object) -> ModuleType:
    """The httpx-compatible module (httpx2, httpx) that ``http_client`` (an instance or a
    class) belongs to."""
    kind = http_client if isinstance(http_client, type) else type(http_client)
    for cls in kind.__mro__:
        if cls.__name__ in ("Client", "AsyncClient"):
            module = sys.modules.get(cls.__module__.partition(".")[0])
            if module is not None and hasattr(module, "BaseTransport"):
                return module
    raise TypeError(f"{kind.__name__} is not an httpx or httpx2 client")


def bind(mixin: type[T], base: Any) -> type[T]:
    """``mixin`` combined with ``base``, a class of the client's own httpx module."""
    return cast("type[T]", type(mixin.__name__, (mixin, base), {}))


def is_async_client(http_client: object, module: ModuleType) -> bool:
    return isinstance(http_client, module.AsyncClient)


# -- synchronous ------------------------------------------------------------------------------


class WatchingStream:
    """A response body stream that shows each chunk to the attempt as the SDK reads it."""

    def __init__(self, inner: Any, attempt: Attempt, guard: Guard) -> None:
        self._inner = inner
        self._attempt = attempt
        self._guard = guard

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._inner:
                self._guard(self._attempt.received, chunk)
                yield chunk
        except GeneratorExit:  # abandoned: close() records it
            raise
        except BaseException as exc:  # the network failed mid-body, or the caller gave up
            self._guard(self._attempt.ended, exc, exhausted=False)
            raise
        self._guard(self._attempt.ended, None, exhausted=True)

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            # After a full read this is a no-op; before it, the user stopped reading.
            self._guard(self._attempt.ended, None, exhausted=False)


class WatchingTransport:
    """Sends through the original transport; watches what the observer asks for."""

    def __init__(self, inner: Any, observer: Observer, stream_class: type[WatchingStream]):
        self.inner = inner
        self.observer = observer
        self._stream_class = stream_class
        self._guard = Guard()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        begun = self._guard(self.observer.begin, request)
        if begun is None:
            return cast("httpx2.Response", self.inner.handle_request(request))
        request, attempt = begun
        try:
            response = self.inner.handle_request(request)
        except BaseException as exc:  # Ctrl-C too: the request was sent, so it is recorded
            self._guard(attempt.failed, exc)
            raise
        self._guard(attempt.responded, response)
        response.stream = self._stream_class(response.stream, attempt, self._guard)
        return cast("httpx2.Response", response)

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> WatchingTransport:
        self.inner.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        self.inner.__exit__(exc_type, exc_value, traceback)


# -- asynchronous -----------------------------------------------------------------------------


class AsyncWatchingStream:
    def __init__(self, inner: Any, attempt: Attempt, guard: Guard) -> None:
        self._inner = inner
        self._attempt = attempt
        self._guard = guard

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                self._guard(self._attempt.received, chunk)
                yield chunk
        except GeneratorExit:  # abandoned: aclose() records it
            raise
        except BaseException as exc:  # cancelled mid-body too
            self._guard(self._attempt.ended, exc, exhausted=False)
            raise
        self._guard(self._attempt.ended, None, exhausted=True)

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._guard(self._attempt.ended, None, exhausted=False)


class AsyncWatchingTransport:
    def __init__(
        self, inner: Any, observer: Observer, stream_class: type[AsyncWatchingStream]
    ) -> None:
        self.inner = inner
        self.observer = observer
        self._stream_class = stream_class
        self._guard = Guard()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        begun = self._guard(self.observer.begin, request)
        if begun is None:
            return cast("httpx2.Response", await self.inner.handle_async_request(request))
        request, attempt = begun
        try:
            response = await self.inner.handle_async_request(request)
        except BaseException as exc:  # cancelled (asyncio.wait_for, a task) too: recorded
            self._guard(attempt.failed, exc)
            raise
        self._guard(attempt.responded, response)
        response.stream = self._stream_class(response.stream, attempt, self._guard)
        return cast("httpx2.Response", response)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def __aenter__(self) -> AsyncWatchingTransport:
        await self.inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.inner.__aexit__(exc_type, exc_value, traceback)


def watch(http_client: Any, observer: Observer) -> None:
    """Route every request of ``http_client`` through a watching transport.

    The default transport and every mounted one (proxies from the environment are mounts)
    are wrapped; watching a client twice replaces the first observer, never stacks two.
    """
    module = httpx_module(http_client)
    wrap: Callable[[Any], Any]
    if is_async_client(http_client, module):
        transport = bind(AsyncWatchingTransport, module.AsyncBaseTransport)
        astream = bind(AsyncWatchingStream, module.AsyncByteStream)

        def wrap(t: Any) -> Any:
            inner = t.inner if isinstance(t, AsyncWatchingTransport) else t
            return transport(inner, observer, astream)

    else:
        sync_transport = bind(WatchingTransport, module.BaseTransport)
        stream = bind(WatchingStream, module.SyncByteStream)

        def wrap(t: Any) -> Any:
            inner = t.inner if isinstance(t, WatchingTransport) else t
            return sync_transport(inner, observer, stream)

    # Private attributes, but the only per-client hook for an existing client: httpx has
    # no public way to swap the transport of a client someone else built.
    http_client._transport = wrap(http_client._transport)
    http_client._mounts = {
        pattern: None if t is None else wrap(t) for pattern, t in http_client._mounts.items()
    }
