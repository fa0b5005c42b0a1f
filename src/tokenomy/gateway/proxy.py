"""One request's way through its deployments: prepare the body for each (translated when the
protocols differ), send it, and relay the answer; on a retryable failure move on to the next
deployment, then to the fallback aliases, then wait and go round again.

Nothing reaches the client until a deployment answers for good, so a failure never leaves
half a response behind: retryable failures are read whole and kept, and only the last is
relayed when every attempt failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from tokenomy.cache.keys import normal_request
from tokenomy.gateway.config import Deployment
from tokenomy.gateway.errors import error_body, stream_error_event
from tokenomy.gateway.headers import relay_headers, upstream_headers
from tokenomy.gateway.providers import (
    CHAT_OPERATION,
    Operation,
    Protocol,
    price_variant,
    tool_uses,
    web_searches,
)
from tokenomy.gateway.recorder import CallTrace
from tokenomy.gateway.router import Refusal, Router, retry_after_seconds, soonest
from tokenomy.gateway.sse import EventReader
from tokenomy.gateway.stream_usage import StreamUsage
from tokenomy.gateway.translate import StreamTranslator, TranslationError, Translator, translator

log = logging.getLogger("tokenomy.gateway")
# After a stream's last event, how long its provider may take to end the body before the
# connection is dropped instead of kept for the next request.
DRAIN_SECONDS = 1.0

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]

RETRYABLE = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


class ClientError(Exception):
    """A request the gateway refuses, with the status and message the client will see."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers = headers or []


@dataclass(slots=True)
class Request:
    protocol: Protocol
    operation: Operation
    headers: dict[str, str]
    body: bytes
    json: dict[str, Any]
    # Set when a virtual key authenticated the request: the client's own credentials are
    # then never forwarded.
    authenticated: bool = False
    # The deployment the client's own key was meant for: the first of the alias it named.
    # Only a deployment of the same provider and host may receive that key.
    addressed: Deployment | None = None
    _normal: bytes | None = field(default=None, init=False, repr=False)

    def normalised(self) -> bytes:
        """The body as the exact cache compares requests (:func:`normal_request`), made on
        first use and kept: the record's prompt hash and the cache key both read it, so the
        body is walked and serialised once."""
        if self._normal is None:
            self._normal = normal_request(self.protocol, self.operation, self.json)
        return self._normal


@dataclass(slots=True)
class Failure:
    """A retryable failure, kept to be relayed if it turns out to be the last."""

    status: int
    body: bytes  # already in the client's protocol
    headers: list[tuple[bytes, bytes]]


@dataclass(slots=True)
class Prepared:
    url: str
    body: bytes
    headers: dict[str, str]
    translator: Translator | None
    strip_usage: bool


class Proxy:
    def __init__(self, session: aiohttp.ClientSession, router: Router) -> None:
        self.session = session
        self.router = router

    async def forward(
        self,
        request: Request,
        chain: list[tuple[str, list[Deployment]]],
        trace: CallTrace,
        send: Send,
    ) -> None:
        """Serve ``request`` from the first deployment in ``chain`` (alias, then fallback
        aliases) that answers; every path ends with a response sent."""
        settings = self.router.settings
        request.addressed = chain[0][1][0]
        last: Failure | None = None
        for round_index in range(settings.retries + 1):
            refusals: list[Refusal] = []
            for alias, deployments in chain:
                for deployment in self.router.order(deployments):
                    refusal = self.router.refusal(deployment)
                    if refusal is not None:
                        refusals.append(refusal)
                        continue
                    failure = await self._attempt(request, alias, deployment, trace, send)
                    if failure is None:
                        return
                    last = failure
            if round_index == settings.retries:
                break
            wait = self._wait_before_next_round(chain, round_index)
            if wait is None:
                break
            await asyncio.sleep(wait)
        if last is not None:
            await _send_raw(send, last.status, last.body, last.headers)
            return
        raise _refused(chain, refusals, request)

    def _wait_before_next_round(
        self, chain: list[tuple[str, list[Deployment]]], round_index: int
    ) -> float | None:
        """Seconds to wait before another round, or None if another round cannot help."""
        backoff = self.router.backoff(round_index)
        refusals = [self.router.refusal(d) for _, ds in chain for d in ds]
        if any(r is None for r in refusals):
            return backoff
        cooling = [r for r in refusals if r is not None and r.reason == "cooling"]
        first = soonest(cooling)
        if first is None or first.wait > self.router.settings.max_retry_after:
            return None  # only our own rate limits, or a wait too long to hold a client for
        return max(backoff, first.wait + 0.02)

    async def _attempt(
        self,
        request: Request,
        alias: str,
        deployment: Deployment,
        trace: CallTrace,
        send: Send,
    ) -> Failure | None:
        """One try at one deployment: None when the response was relayed (success, or an
        error that retrying cannot fix), else the failure to remember."""
        trace.attempts += 1
        trace.provider = deployment.provider.name
        trace.deployment_model = deployment.model
        trace.served_alias = alias
        prepared = prepare(request, deployment)
        timeout = aiohttp.ClientTimeout(
            total=deployment.timeout, sock_connect=deployment.connect_timeout
        )
        self.router.started(deployment)
        tokens = 0
        try:
            try:
                async with asyncio.timeout(deployment.first_byte_timeout):
                    response = await self.session.post(
                        prepared.url, data=prepared.body, headers=prepared.headers, timeout=timeout
                    )
            except (aiohttp.ClientError, TimeoutError) as exc:
                return self._transport_failure(exc, request, deployment, trace)
            async with response:
                if response.status < 400:
                    trace.accepted = True  # billed from here on, even if no usage follows
                content_type = response.headers.get("content-type", "")
                streamed = response.status == 200 and content_type.startswith("text/event-stream")
                body = b""
                if not streamed:
                    # The whole body is read before the client sees anything, so a body cut
                    # off or stalled past the timeout is a failure that can still be retried.
                    try:
                        body = await response.read()
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        return self._transport_failure(exc, request, deployment, trace)
                if response.status in RETRYABLE:
                    return self._failed(response, body, request, deployment, prepared, trace)
                trace.status, trace.error_type, trace.error = response.status, None, None
                if response.status < 500:
                    self.router.succeeded(deployment)  # it answered: it is up
                if streamed:
                    await self._relay_stream(response, request, deployment, prepared, trace, send)
                else:
                    await self._relay_body(response, body, deployment, prepared, trace, send)
                tokens = trace.usage.total if trace.usage is not None else 0
                return None
        finally:
            self.router.finished(deployment, tokens=tokens)

    def _transport_failure(
        self, exc: Exception, request: Request, deployment: Deployment, trace: CallTrace
    ) -> Failure:
        """No answer, or no whole answer: a connection error or a timeout, worth a retry."""
        self.router.failed(deployment)
        kind = "timeout" if isinstance(exc, TimeoutError) else "connection_error"
        text = "timed out" if kind == "timeout" else f"connection failed: {exc}"
        message = f"{deployment.label}: {text}"
        status = 504 if kind == "timeout" else 502
        trace.fail(kind, message, status)
        return Failure(status, error_body(request.protocol, status, message), [])

    def _failed(
        self,
        response: aiohttp.ClientResponse,
        body: bytes,
        request: Request,
        deployment: Deployment,
        prepared: Prepared,
        trace: CallTrace,
    ) -> Failure:
        retry_after = retry_after_seconds(response.headers)
        if response.status == 429 and retry_after is None:
            # Rate limited without saying for how long: park it for one backoff step rather
            # than count it as broken.
            retry_after = self.router.settings.backoff
        self.router.failed(deployment, retry_after=retry_after)
        trace.fail(f"http_{response.status}", body.decode("utf-8", "replace"), response.status)
        if prepared.translator is not None:
            body = prepared.translator.error(response.status, body)
        return Failure(response.status, body, relay_headers(response, len(body)))

    async def _relay_body(
        self,
        response: aiohttp.ClientResponse,
        body: bytes,
        deployment: Deployment,
        prepared: Prepared,
        trace: CallTrace,
        send: Send,
    ) -> None:
        trace.first_byte()
        if response.status < 400:
            with contextlib.suppress(orjson.JSONDecodeError):
                parsed = orjson.loads(body)
                if isinstance(parsed, dict):
                    trace.usage = deployment.provider.usage(parsed)
                    trace.price_variant = price_variant(deployment.provider.protocol, parsed)
                    trace.tools = tool_uses(deployment.provider.protocol, parsed)
                    usage = parsed.get("usage")
                    trace.web_searches = web_searches(
                        deployment.provider.protocol, usage if isinstance(usage, dict) else None
                    )
                    model = parsed.get("model", parsed.get("modelVersion"))
                    trace.response_model = model if isinstance(model, str) else None
                    trace.finish_reason = _finish_reason(parsed)
                    trace.capture_response(body)
                    if prepared.translator is not None:
                        translated = prepared.translator.response(parsed, trace.alias)
                        body = orjson.dumps(translated)
        else:
            trace.fail(f"http_{response.status}", body.decode("utf-8", "replace"), response.status)
            if prepared.translator is not None:
                body = prepared.translator.error(response.status, body)
        headers = relay_headers(response, len(body), translated=prepared.translator is not None)
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _relay_stream(
        self,
        response: aiohttp.ClientResponse,
        request: Request,
        deployment: Deployment,
        prepared: Prepared,
        trace: CallTrace,
        send: Send,
    ) -> None:
        headers = relay_headers(response, None, translated=prepared.translator is not None)
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        stream = (
            None
            if prepared.translator is None
            else prepared.translator.stream(trace.alias, include_usage=wants_usage(request.json))
        )
        await _relay_events(
            response,
            request.protocol,
            deployment.provider.protocol,
            stream,
            trace,
            prepared.strip_usage,
            send,
        )


def prepare(request: Request, deployment: Deployment) -> Prepared:
    """What to send to ``deployment`` for ``request``: untouched bytes when nothing needs
    changing, only the model replaced when the alias differs, translated across protocols."""
    provider = deployment.provider
    stream = request.json.get("stream") is True
    try:
        convert = translator(request.protocol, provider.protocol)
    except TranslationError as exc:
        raise ClientError(400, f"{deployment.label}: {exc}", "protocol_mismatch") from exc
    operation = request.operation
    strip_usage = False
    if convert is None:
        body = _same_protocol_body(request, deployment)
        strip_usage = body is not request.body and _added_usage(request)
    else:
        if operation not in ("chat", "messages"):
            raise ClientError(
                400,
                f"{deployment.label} speaks the {provider.protocol} protocol, which has no "
                f"{operation} endpoint to translate to",
                "protocol_mismatch",
            )
        operation = CHAT_OPERATION[provider.protocol]
        try:
            translated = convert.request(request.json, deployment.model, stream=stream)
        except TranslationError as exc:
            raise ClientError(400, f"{deployment.label}: {exc}", "unsupported_parameter") from exc
        # (A translated OpenAI stream request already asks for usage: the translator adds it.)
        body = orjson.dumps(translated)
    url = provider.url(
        deployment.base_url,
        operation,
        model=deployment.model,
        stream=stream,
        api_version=deployment.api_version,
    )
    if url is None:
        raise ClientError(400, f"{deployment.label} does not serve {operation}", "not_supported")
    return Prepared(url, body, upstream_headers(request, deployment), convert, strip_usage)


def _same_protocol_body(request: Request, deployment: Deployment) -> bytes:
    body = request.json
    changes: dict[str, Any] = {}
    if deployment.model != body.get("model"):
        changes["model"] = deployment.model
    if _added_usage(request):
        options = body.get("stream_options")
        changes["stream_options"] = {**(options or {}), "include_usage": True}
    if not changes:
        return request.body
    return orjson.dumps({**body, **changes})


def _added_usage(request: Request) -> bool:
    """Whether the gateway must ask an OpenAI stream for usage the client did not ask for
    (the extra usage-only chunk is then hidden from the client)."""
    return (
        request.protocol == "openai"
        and request.operation == "chat"
        and request.json.get("stream") is True
        and not wants_usage(request.json)
    )


def wants_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


async def _relay_events(
    response: aiohttp.ClientResponse,
    client_protocol: Protocol,
    provider_protocol: Protocol,
    stream: StreamTranslator | None,
    trace: CallTrace,
    strip_usage: bool,
    send: Send,
) -> None:
    reader = EventReader()
    # A translator already reads the provider's usage, model and end from each event it
    # converts; only a pass-through stream needs its own reader, so no event is parsed twice.
    passthrough = StreamUsage(provider_protocol)
    seen: StreamUsage | StreamTranslator = passthrough if stream is None else stream
    # The answer's last events go out with the end of the response, after the budget is
    # settled and the answer cached (exchange.TrackedSend.before_end): a client that has its answer
    # may send its next request at once, and it must find both done. Anthropic and OpenAI
    # mark their end; nothing after it is for the client, so the provider's own end of
    # body (which can come late) is not waited for. Gemini's last chunk is not marked.
    ends_at_marker = provider_protocol != "gemini"
    last: list[bytes] = []
    try:
        async for chunk in response.content.iter_any():
            trace.first_byte()
            out: list[bytes] = []
            for event in reader.feed(chunk):
                trace.capture_event(event.raw)
                if trace.error_type is None and _malformed(event.data):
                    _mark_malformed(trace, event.data)
                    if stream is not None:  # it cannot be translated: the answer is broken
                        raise _MalformedEventError
                if stream is not None:
                    out.extend(stream.feed(event.name, event.data))
                else:
                    usage_only = passthrough.see(event.name, event.data)
                    if not (strip_usage and usage_only):
                        out.append(event.raw)
            trace.answered = seen.finished
            if trace.error_type is None and _provider_stream_error(trace, stream, passthrough):
                # Recorded now: an SDK raises on the error event and hangs up, and the
                # call is the provider's failure, not a client that left.
                trace.answered = True
            if seen.finished and ends_at_marker:
                last = out
                break
            if out:
                await send({"type": "http.response.body", "body": b"".join(out), "more_body": True})
        if _provider_stream_error(trace, stream, passthrough):
            pass  # the client has had the provider's error event (translated if need be)
        elif not seen.finished:
            raise aiohttp.ClientPayloadError("the stream ended before its last event")
        elif stream is not None:
            last += stream.finish()
    except _MalformedEventError:
        last = [stream_error_event(client_protocol, trace.error or "malformed stream")]
    except (aiohttp.ClientError, TimeoutError) as exc:
        if _provider_stream_error(trace, stream, passthrough):
            # The provider's error event was the stream's last word, and the client has it:
            # a made-up second error after it would only hide the provider's.
            log.info("upstream closed after its error event: %r", exc)
        elif seen.finished:
            # The last event was relayed; only the connection's close failed (or came after
            # the timeout). The answer is whole: an error event after [DONE] / message_stop
            # would break the protocol, and the call is a success.
            log.info("upstream closed late after a complete stream: %r", exc)
            last += stream.finish() if stream is not None else []
        else:
            detail = str(exc) or (
                "the provider sent nothing within the timeout"
                if isinstance(exc, TimeoutError)
                else type(exc).__name__
            )
            message = f"upstream stream failed: {detail}"
            trace.fail("stream_interrupted", message)
            last.append(stream_error_event(client_protocol, message))
    finally:
        trace.usage = passthrough.total() if stream is None else stream.token_usage()
        trace.price_variant = passthrough.variant  # a translated stream's is not read
        trace.tools = passthrough.tools
        trace.web_searches = passthrough.web_searches()
        trace.response_model = seen.model or trace.response_model
        trace.finish_reason = seen.finish_reason
    await send({"type": "http.response.body", "body": b"".join(last), "more_body": False})
    if seen.finished and ends_at_marker:
        # The client has its answer. Read the provider's end of body (usually already
        # here), so its connection goes back to the pool rather than being closed: a new
        # TLS connection per streamed request would cost more than this wait.
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with asyncio.timeout(DRAIN_SECONDS):
                while await response.content.readany():
                    pass


def _provider_stream_error(
    trace: CallTrace, stream: StreamTranslator | None, passthrough: StreamUsage
) -> bool:
    """Whether the provider sent an error event inside the stream; if so it is recorded
    as the call's error, with the provider's own message and code."""
    if stream is not None:
        if stream.error is None:
            return False
        trace.fail("stream_error", stream.error)
        return True
    if passthrough.error is None:
        return False
    message, code = passthrough.error
    trace.fail("stream_error", message)
    if code is not None:
        trace.attributes["error_code"] = code
    return True


class _MalformedEventError(Exception):
    """A provider event that is not a JSON object, in a stream being translated."""


def _malformed(data: bytes) -> bool:
    """An event whose data is not a JSON object (OpenAI's ``[DONE]`` aside)."""
    if not data or data == b"[DONE]":
        return False
    try:
        return not isinstance(orjson.loads(data), dict)
    except orjson.JSONDecodeError:
        return True


def _mark_malformed(trace: CallTrace, data: bytes) -> None:
    """Failed, so it is never cached and shows among the failures; its tokens still count."""
    shown = data[:80].decode("utf-8", "replace")
    trace.fail("malformed_stream", f"the provider sent an event that is not JSON: {shown!r}")


def _refused(
    chain: list[tuple[str, list[Deployment]]], refusals: list[Refusal], request: Request
) -> ClientError:
    """Every deployment refused without being tried: our own rate limits, or circuits
    open because the provider keeps failing."""
    alias = chain[0][0]
    first = soonest(refusals)
    wait = max(1, round(first.wait)) if first is not None else 1
    details = "; ".join(sorted({r.detail for r in refusals}))
    headers = [(b"retry-after", str(wait).encode())]
    if refusals and all(r.reason == "rate_limited" for r in refusals):
        return ClientError(
            429,
            f"rate limit reached for every deployment of {alias!r} ({details}); retry in {wait} s",
            "rate_limit_exceeded",
            headers,
        )
    return ClientError(
        503,
        f"every deployment of {alias!r} is failing ({details}); retry in {wait} s",
        "deployments_unavailable",
        headers,
    )


def _finish_reason(body: dict[str, Any]) -> str | None:
    if isinstance(body.get("stop_reason"), str):
        return str(body["stop_reason"])
    for key in ("choices", "candidates"):
        items = body.get(key)
        if isinstance(items, list) and items and isinstance(items[0], dict):
            reason = items[0].get("finish_reason", items[0].get("finishReason"))
            return reason if isinstance(reason, str) else None
    return None


async def _send_raw(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    names = {k for k, _ in headers}
    extra = [(b"content-type", b"application/json")] if b"content-type" not in names else []
    if b"content-length" not in names:
        extra.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers + extra})
    await send({"type": "http.response.body", "body": body})
