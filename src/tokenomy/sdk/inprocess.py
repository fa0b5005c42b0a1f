"""``tokenomy.Client``: the gateway's routing, failover and recording in-process, no server.

The official SDK clients it hands out send their requests to the :class:`Gateway` ASGI app
directly: the transport turns an HTTP request into an ASGI scope and body, runs the app,
and turns its ``http.response.*`` messages back into a response whose body streams as the
messages arrive. Same ``tokenomy.yaml``, same code path as ``tokenomy serve``, no socket.

The gateway runs on a private event loop in a daemon thread, for sync and async clients
alike. Its aiohttp session belongs to the loop that opened it, so one loop must do all the
work: an async caller hands its request over with ``run_coroutine_threadsafe`` and reads
the answer from a queue on its own loop. (A gateway per caller loop would save a thread hop
per message, but would need a session, and a shutdown, per loop, with no one to know when
a loop is finished.)
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from tokenomy.gateway.app import Gateway, Message, Scope
from tokenomy.gateway.config import GatewayConfig, GatewayConfigError, load_config
from tokenomy.gateway.recorder import Recorder
from tokenomy.gateway.serve import CONFIG_ENV
from tokenomy.record import Source
from tokenomy.sdk.track import open_recorder
from tokenomy.sdk.transport import bind, httpx_module

if TYPE_CHECKING:
    # Aliased: the methods named openai() and anthropic() would shadow the modules.
    import anthropic as anthropic_sdk
    import httpx2
    import openai as openai_sdk

T = TypeVar("T")

# Set when the gateway's coroutine returns: after it, no message will come.
_END = object()
# An event stream whose last bytes are its final event is complete even if the SDK closes
# it before the empty end-of-body message arrives (OpenAI's SDK stops at [DONE]).
_TAIL = 256


def _ends_a_stream(tail: bytes) -> bool:
    return tail.endswith(b"data: [DONE]\n\n") or b"event: message_stop" in tail


class Client:
    """The gateway in-process: ``client.openai()``, ``client.anthropic()`` and their async
    twins are official SDK clients whose calls go through the aliases, deployments and
    failover of ``tokenomy.yaml`` and are recorded (``source = sdk``), without a server.

    ``config`` is a path or a loaded :class:`GatewayConfig`; by default the file named by
    ``TOKENOMY_GATEWAY_CONFIG``, else ``./tokenomy.yaml``. ``project``, ``user``,
    ``session`` and ``tags`` are stored with every call. Records go to ``recorder``, or to
    a recorder of this client's own on the ``TOKENOMY_DB`` database; either way
    :meth:`close` (or leaving a ``with`` block, or the interpreter's exit) flushes and
    closes it.
    """

    def __init__(
        self,
        config: str | Path | GatewayConfig | None = None,
        *,
        project: str | None = None,
        user: str | None = None,
        session: str | None = None,
        tags: list[str] | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self.config = _load(config)
        self._owns_recorder = recorder is None
        self._recorder = recorder or open_recorder()
        self._headers = {
            f"x-tokenomy-{name}": value
            for name, value in (
                ("project", project),
                ("user", user),
                ("session", session),
                ("tags", ",".join(tags or [])),
            )
            if value
        }
        self._runner = _GatewayThread(Gateway(self.config, self._recorder, source=Source.SDK))
        atexit.register(self.close)

    # -- SDK clients ----------------------------------------------------------------------

    def openai(self, **options: Any) -> openai_sdk.OpenAI:
        """An ``openai.OpenAI`` client (same options, except ``base_url`` and
        ``http_client``) whose ``model`` is an alias of ``tokenomy.yaml``."""
        import openai

        http = openai.DefaultHttpxClient(transport=self._transport(openai.DefaultHttpxClient))
        return openai.OpenAI(**self._options(options, "OPENAI_API_KEY", "/v1", http))

    def async_openai(self, **options: Any) -> openai_sdk.AsyncOpenAI:
        import openai

        kind = openai.DefaultAsyncHttpxClient
        http = kind(transport=self._transport(kind, asynchronous=True))
        return openai.AsyncOpenAI(**self._options(options, "OPENAI_API_KEY", "/v1", http))

    def anthropic(self, **options: Any) -> anthropic_sdk.Anthropic:
        """An ``anthropic.Anthropic`` client whose ``model`` is an alias of
        ``tokenomy.yaml``."""
        import anthropic

        kind = anthropic.DefaultHttpxClient
        http = kind(transport=self._transport(kind))
        return anthropic.Anthropic(**self._options(options, "ANTHROPIC_API_KEY", "", http))

    def async_anthropic(self, **options: Any) -> anthropic_sdk.AsyncAnthropic:
        import anthropic

        kind = anthropic.DefaultAsyncHttpxClient
        http = kind(transport=self._transport(kind, asynchronous=True))
        return anthropic.AsyncAnthropic(**self._options(options, "ANTHROPIC_API_KEY", "", http))

    def _transport(self, http_class: type, *, asynchronous: bool = False) -> Any:
        module = httpx_module(http_class)
        if asynchronous:
            transport = bind(AsyncGatewayTransport, module.AsyncBaseTransport)
            return transport(self._runner, module)
        return bind(GatewayTransport, module.BaseTransport)(self._runner, module)

    def _options(
        self, options: dict[str, Any], key_env: str, path: str, http: Any
    ) -> dict[str, Any]:
        for fixed in ("base_url", "http_client"):
            if fixed in options:
                raise TypeError(f"tokenomy.Client sets {fixed}: its endpoint is the gateway")
        # The host is never resolved; the path is what the gateway routes on.
        return {
            **options,
            "base_url": f"http://tokenomy.invalid{path}",
            # The provider key normally comes from tokenomy.yaml; a deployment without one
            # passes on the client's, as the gateway does.
            "api_key": options.get("api_key") or os.environ.get(key_env) or "tokenomy",
            "default_headers": {**self._headers, **(options.get("default_headers") or {})},
            "http_client": http,
        }

    # -- life cycle -----------------------------------------------------------------------

    def close(self) -> None:
        """End calls in flight, stop the gateway, and write every record."""
        atexit.unregister(self.close)
        self._runner.close()
        if self._owns_recorder:
            with contextlib.suppress(OSError):  # a cache of resolved prices, nothing more
                self._recorder.catalog.save()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _load(config: str | Path | GatewayConfig | None) -> GatewayConfig:
    if isinstance(config, GatewayConfig):
        return config
    if config is None:
        named = os.environ.get(CONFIG_ENV)
        path = Path(named) if named else Path("tokenomy.yaml")
        if not path.is_file():
            raise GatewayConfigError(
                f"{path}: no such file: pass tokenomy.Client(config=...) or create "
                "tokenomy.yaml (see docs/gateway.md)"
            )
        return load_config(path)
    return load_config(Path(config))


# -- the gateway's thread ---------------------------------------------------------------------


class _Exchange:
    """One request served by the gateway app: its ASGI ``receive`` and ``send``.

    ``deliver`` is called on the gateway's loop with each message the app sends, then with
    the exception the app raised or ``_END``; it must hand them to the caller thread-safely.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        scope: Scope,
        body: bytes,
        deliver: Callable[[Any], None],
    ) -> None:
        self.scope = scope
        self._loop = loop
        self._body: bytes | None = body
        self._deliver = deliver
        self._left = asyncio.Event()

    async def run(self, app: Gateway) -> None:
        try:
            await app(self.scope, self._receive, self._send)
        except Exception as exc:
            self._deliver(exc)
        except BaseException:  # cancelled: after the caller left, or at shutdown
            self._deliver(ConnectionAbortedError("the in-process gateway call was cancelled"))
        else:
            self._deliver(_END)

    def leave(self) -> None:
        """The caller stops reading (from any thread): the gateway cancels the upstream
        call, as it does when a client of ``tokenomy serve`` disconnects."""
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            self._loop.call_soon_threadsafe(self._left.set)

    async def _receive(self) -> Message:
        if self._body is not None:
            body, self._body = self._body, None
            return {"type": "http.request", "body": body, "more_body": False}
        await self._left.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        self._deliver(message)


class _GatewayThread:
    """The gateway on its private event loop, in a daemon thread (so a forgotten client
    never keeps the process alive; the exit hook still flushes its records)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="tokenomy-client", daemon=True
        )
        self._thread.start()
        self._running: dict[_Exchange, asyncio.Task[None]] = {}  # touched on the loop only
        self._lock = threading.Lock()
        self._closed = False
        self._call(gateway.startup())

    def _call(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    def start(self, scope: Scope, body: bytes, deliver: Callable[[Any], None]) -> _Exchange:
        with self._lock:
            if self._closed:
                raise RuntimeError("this tokenomy.Client is closed")
            exchange = _Exchange(self._loop, scope, body, deliver)
            self._loop.call_soon_threadsafe(self._spawn, exchange)
        return exchange

    def _spawn(self, exchange: _Exchange) -> None:
        task = self._loop.create_task(exchange.run(self.gateway))
        self._running[exchange] = task
        task.add_done_callback(lambda _: self._running.pop(exchange, None))

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            self._call(self._shutdown())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    async def _shutdown(self) -> None:
        # Calls still in flight were abandoned by their callers: end them as the gateway
        # ends a call whose client left (recorded, upstream cancelled).
        for exchange in list(self._running):
            exchange.leave()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
        await self.gateway.shutdown()  # closes the session and flushes the recorder
        with contextlib.suppress(RuntimeError):  # at the interpreter's exit: no executor
            await self._loop.shutdown_default_executor()


# -- transports -------------------------------------------------------------------------------


def _scope(request: httpx2.Request) -> Scope:
    url = request.url
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": url.scheme,
        "path": url.path,
        "raw_path": url.raw_path.partition(b"?")[0],
        "query_string": url.query,
        "root_path": "",
        "headers": [(k.lower(), v) for k, v in request.headers.raw],
        "server": (url.host, url.port or (443 if url.scheme == "https" else 80)),
        "client": ("127.0.0.1", 0),
    }


def _read_timeout(request: httpx2.Request) -> float | None:
    timeout = request.extensions.get("timeout")
    value = timeout.get("read") if isinstance(timeout, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _start_message(item: Any, module: ModuleType, request: httpx2.Request) -> Message:
    if item is _END or item.get("type") != "http.response.start":
        raise module.RemoteProtocolError("the gateway sent no response", request=request)
    return item  # type: ignore[no-any-return]


class GatewayTransport:
    """A synchronous transport that serves requests with the in-process gateway."""

    def __init__(self, runner: _GatewayThread, module: ModuleType) -> None:
        self._runner = runner
        self._module = module
        self._stream_class = bind(_GatewayStream, module.SyncByteStream)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        body = request.read()
        inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        exchange = self._runner.start(_scope(request), body, inbox.put)
        timeout = _read_timeout(request)
        module = self._module

        def take() -> Any:
            try:
                item = inbox.get(timeout=timeout)
            except queue.Empty:
                exchange.leave()
                raise module.ReadTimeout(
                    "the gateway did not answer in time", request=request
                ) from None
            if isinstance(item, BaseException):
                raise item
            return item

        start = _start_message(take(), module, request)
        stream = self._stream_class(take, exchange, module, request)
        return module.Response(  # type: ignore[no-any-return]
            start["status"],
            headers=start.get("headers", []),
            stream=stream,
            extensions={"http_version": b"HTTP/1.1"},
        )

    def close(self) -> None:
        pass  # the Client owns the gateway


class _Body:
    """The response body, message by message as the gateway sends them."""

    def __init__(self, exchange: _Exchange, module: ModuleType, request: Any) -> None:
        self._exchange = exchange
        self._module = module
        self._request = request
        self._complete = False
        self._tail = b""

    def _accept(self, item: Any) -> bytes:
        if item is _END:
            self._complete = True
            raise self._module.RemoteProtocolError(
                "the gateway ended the response early", request=self._request
            )
        if item.get("type") != "http.response.body":
            return b""
        self._complete = not item.get("more_body", False)
        body: bytes = item.get("body", b"")
        self._tail = (self._tail + body)[-_TAIL:]
        return body

    def _stop(self) -> None:
        if not self._complete and not _ends_a_stream(self._tail):
            self._exchange.leave()


class _GatewayStream(_Body):
    def __init__(
        self, take: Callable[[], Any], exchange: _Exchange, module: ModuleType, request: Any
    ) -> None:
        super().__init__(exchange, module, request)
        self._take = take

    def __iter__(self) -> Iterator[bytes]:
        while not self._complete:
            body = self._accept(self._take())
            if body:
                yield body

    def close(self) -> None:
        self._stop()


class AsyncGatewayTransport:
    """An asyncio transport that serves requests with the in-process gateway (the caller's
    loop waits on a queue the gateway's loop fills)."""

    def __init__(self, runner: _GatewayThread, module: ModuleType) -> None:
        self._runner = runner
        self._module = module
        self._stream_class = bind(_AsyncGatewayStream, module.AsyncByteStream)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[Any] = asyncio.Queue()

        def deliver(item: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the caller's loop is gone
                loop.call_soon_threadsafe(inbox.put_nowait, item)

        exchange = self._runner.start(_scope(request), body, deliver)
        timeout = _read_timeout(request)
        module = self._module

        async def take() -> Any:
            try:
                item = await asyncio.wait_for(inbox.get(), timeout)
            except TimeoutError:
                exchange.leave()
                raise module.ReadTimeout(
                    "the gateway did not answer in time", request=request
                ) from None
            if isinstance(item, BaseException):
                raise item
            return item

        try:
            start = _start_message(await take(), module, request)
        except asyncio.CancelledError:
            # No response yet, so no stream whose closing would tell the gateway.
            exchange.leave()
            raise
        # Cancelled while reading the body, the SDK closes the response: the stream tells
        # the gateway then, unless the answer was complete (the SDK drains after [DONE]).
        stream = self._stream_class(take, exchange, module, request)
        return module.Response(  # type: ignore[no-any-return]
            start["status"],
            headers=start.get("headers", []),
            stream=stream,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        pass


class _AsyncGatewayStream(_Body):
    def __init__(
        self,
        take: Callable[[], Awaitable[Any]],
        exchange: _Exchange,
        module: ModuleType,
        request: Any,
    ) -> None:
        super().__init__(exchange, module, request)
        self._take = take

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while not self._complete:
            body = self._accept(await self._take())
            if body:
                yield body

    async def aclose(self) -> None:
        self._stop()
