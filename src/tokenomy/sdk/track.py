"""``tokenomy.track(client)``: record every call an OpenAI or Anthropic SDK client makes.

The client's HTTP transport is wrapped (:mod:`tokenomy.sdk.transport`); this module decides
what is worth recording and reads it: the request's model and stream flag from its JSON
body, usage, model and finish reason from the response body or its events as the SDK
reads them, and turns each HTTP attempt into a call record (``source = sdk``) on a
:class:`Recorder`'s queue. The user's request and response are never changed (except with
``stream_usage=True``, which the user asks for).
"""

from __future__ import annotations

import atexit
import threading
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlsplit

import orjson

from tokenomy.cache.keys import normal_request, prefix_hash, prompt_hash
from tokenomy.config import Paths
from tokenomy.gateway.providers import Protocol, anthropic_usage, known_providers, openai_usage
from tokenomy.gateway.recorder import CallTrace, Recorder
from tokenomy.gateway.sse import EventReader
from tokenomy.gateway.stream_usage import StreamUsage
from tokenomy.record import Source, TokenUsage
from tokenomy.sdk.transport import Attempt, watch

if TYPE_CHECKING:
    import httpx2

C = TypeVar("C")

# Endpoint suffixes (base URLs may carry a prefix, e.g. a proxy's) and their operations.
_ENDPOINTS: dict[Protocol, tuple[tuple[str, str], ...]] = {
    "openai": (
        ("/chat/completions", "chat"),
        ("/embeddings", "embeddings"),
        ("/responses", "responses"),
    ),
    "anthropic": (("/v1/messages", "messages"),),
}
_ATTRIBUTION_PREFIX = "x-tokenomy-"
# A successful body is parsed for its usage up to this size; an error body is kept for
# its message up to the smaller one.
_MAX_BODY = 32 * 1024 * 1024
_MAX_ERROR_BODY = 64 * 1024


def track(
    client: C,
    *,
    project: str | None = None,
    user: str | None = None,
    session: str | None = None,
    tags: list[str] | None = None,
    recorder: Recorder | None = None,
    stream_usage: bool = False,
) -> C:
    """Record every call ``client`` makes, and return the same client.

    ``client`` is an ``openai.OpenAI``/``AsyncOpenAI`` or ``anthropic.Anthropic``/
    ``AsyncAnthropic`` (or a subclass, e.g. ``AzureOpenAI``). Only this client object is
    changed: its HTTP transport is wrapped. Copies made with ``client.with_options()``
    share the HTTP client and are recorded too.

    Each HTTP attempt becomes one record, so an SDK retry is a second record (each reached
    the provider, and any that produced tokens was billed). ``project``, ``user``,
    ``session`` and ``tags`` are stored with every record; ``x-tokenomy-project``/``-user``/
    ``-session``/``-tags`` headers on a request override them for that request and are not
    sent to the provider. Records go to ``recorder``, or
    to one process-wide recorder on the ``TOKENOMY_DB`` database, opened on the first
    recorded call and flushed at exit.

    With ``stream_usage=True``, an OpenAI chat stream that did not ask for usage gets
    ``stream_options.include_usage``: its tokens are then known, and the stream ends with
    one extra chunk whose ``choices`` is empty, which the calling code must tolerate.
    """
    protocol = _protocol_of(client)
    http_client = getattr(client, "_client", None)
    if http_client is None:
        raise TypeError(f"{type(client).__name__} has no HTTP client to track")
    attribution = _Attribution(project, user, session, list(tags or []))
    watch(http_client, Tracker(protocol, attribution, recorder, stream_usage=stream_usage))
    return client


def _protocol_of(client: object) -> Protocol:
    for cls in type(client).__mro__:
        package = cls.__module__.partition(".")[0]
        if package == "openai":
            return "openai"
        if package == "anthropic":
            return "anthropic"
    raise TypeError(
        f"tokenomy.track() takes an OpenAI or Anthropic SDK client, not {type(client).__name__}"
    )


@dataclass(frozen=True, slots=True)
class _Attribution:
    project: str | None
    user: str | None
    session: str | None
    tags: list[str]


class Tracker:
    """The observer of one tracked client: which requests to record, and where."""

    def __init__(
        self,
        protocol: Protocol,
        attribution: _Attribution,
        recorder: Recorder | None,
        *,
        stream_usage: bool = False,
    ) -> None:
        self.protocol = protocol
        self.attribution = attribution
        self.recorder = recorder
        self.stream_usage = stream_usage
        self._hosts = _provider_hosts(protocol)

    def begin(self, request: httpx2.Request) -> tuple[httpx2.Request, Attempt] | None:
        given = _take_attribution(request)
        if request.method != "POST":
            return None
        operation = _operation(self.protocol, request.url.path)
        if operation is None:
            return None
        trace = CallTrace(operation=operation, alias="", source=Source.SDK)
        self._attribute(trace, given)
        body = _json_object(request.content)
        model = body.get("model")
        trace.alias = model if isinstance(model, str) else ""
        trace.stream = body.get("stream") is True
        if body:  # a body that is not a JSON object has nothing to hash
            # The gateway's hashes (cache/keys.py), so one request has one prompt hash
            # whether it went through the gateway or a tracked client.
            trace.prompt_hash = prompt_hash(normal_request(self.protocol, operation, body))
            trace.prefix_hash = prefix_hash(self.protocol, operation, body)
        url = request.url
        trace.provider = self._hosts.get((url.host, url.port), self.protocol)
        if self.stream_usage and trace.stream and operation == "chat":
            request = _asking_for_usage(request, body)
        extra: dict[str, Any] = {}
        retry = request.headers.get("x-stainless-retry-count", "0")
        if retry.isdigit() and int(retry) > 0:
            extra["sdk_retry"] = int(retry)  # which attempt of one SDK call this was
        return request, _Attempt(self, trace, operation, extra)

    def _attribute(self, trace: CallTrace, given: dict[str, str]) -> None:
        a = self.attribution
        trace.project = given.get("project") or a.project
        trace.user = given.get("user") or a.user
        trace.session = given.get("session") or a.session
        tags = given.get("tags")
        trace.tags = [t.strip() for t in tags.split(",") if t.strip()] if tags else list(a.tags)

    def record(self, trace: CallTrace, extra: dict[str, Any]) -> None:
        trace.attributes.update(extra)
        (self.recorder or PROCESS_RECORDER.get()).record(trace)


def _take_attribution(request: httpx2.Request) -> dict[str, str]:
    """The request's ``x-tokenomy-*`` headers (``{"project": ...}``), removed from it: they
    are ours, never the provider's (on any request, recorded or not)."""
    given: dict[str, str] = {}
    for name, value in list(request.headers.items()):
        if name.lower().startswith(_ATTRIBUTION_PREFIX):
            given[name.lower()[len(_ATTRIBUTION_PREFIX) :]] = value
            del request.headers[name]
    return given


def _operation(protocol: Protocol, path: str) -> str | None:
    for suffix, operation in _ENDPOINTS[protocol]:
        if path.endswith(suffix):
            return operation
    return None


def _provider_hosts(protocol: Protocol) -> dict[tuple[str, int | None], str]:
    """(host, port) of each known provider's API speaking ``protocol``: a request to
    api.groq.com through the OpenAI SDK is a Groq call, priced as one."""
    hosts: dict[tuple[str, int | None], str] = {}
    for provider in known_providers().values():
        if provider.protocol == protocol:
            parts = urlsplit(provider.default_base_url)
            hosts.setdefault((parts.hostname or "", parts.port), provider.name)
    return hosts


def _json_object(content: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(content)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _asking_for_usage(request: httpx2.Request, body: dict[str, Any]) -> httpx2.Request:
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage") is True:
        return request
    body = {**body, "stream_options": {**(options or {}), "include_usage": True}}
    headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"content-length"]
    return type(request)(
        request.method,
        request.url,
        headers=headers,
        content=orjson.dumps(body),
        extensions=request.extensions,
    )


class _Attempt:
    """One HTTP attempt: what the response says, read as the SDK reads it."""

    def __init__(
        self, tracker: Tracker, trace: CallTrace, operation: str, extra: dict[str, Any]
    ) -> None:
        self._tracker = tracker
        self._trace = trace
        self._operation = operation
        self._extra = extra
        self._response: httpx2.Response | None = None
        # A body is kept whole and parsed at the end; an event stream is read as it
        # passes; an opaque one (compressed in a way we cannot follow) is not read.
        self._mode: Literal["body", "events", "opaque"] = "body"
        self._events = EventReader()
        self._usage: StreamUsage | ResponsesStreamUsage | None = None
        self._stream_error: str | None = None
        self._inflate: Callable[[bytes], bytes] | None = None
        self._body: list[bytes] = []
        self._size = 0
        self._done = False

    def failed(self, exc: BaseException) -> None:
        if not isinstance(exc, Exception):  # CancelledError, KeyboardInterrupt
            self._trace.fail("cancelled", "the caller cancelled the request", 499)
            self._finish()
            return
        timeout = any(c.__name__ == "TimeoutException" for c in type(exc).__mro__)
        self._trace.fail("timeout" if timeout else "connection_error", _describe(exc))
        self._finish()

    def responded(self, response: httpx2.Response) -> None:
        self._response = response
        self._trace.status = response.status_code
        content_type = response.headers.get("content-type", "")
        if response.status_code >= 400 or not content_type.startswith("text/event-stream"):
            return
        self._mode = "events"
        self._usage = (
            ResponsesStreamUsage()
            if self._operation == "responses"
            else StreamUsage(self._tracker.protocol)
        )
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding != "identity":
            self._inflate = _inflater(encoding)
            if self._inflate is None:
                self._mode = "opaque"

    def received(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._trace.first_byte()
        if self._mode == "body":
            limit = _MAX_BODY if (self._trace.status or 0) < 400 else _MAX_ERROR_BODY
            if self._size < limit:
                self._body.append(chunk)
            self._size += len(chunk)
        elif self._mode == "events" and self._usage is not None:
            if self._inflate is not None:
                chunk = self._inflate(chunk)
            for event in self._events.feed(chunk):
                self._usage.see(event.name, event.data)
                if event.name in ("error", "response.failed") or event.data.startswith(b'{"error"'):
                    self._stream_error = event.data.decode("utf-8", "replace")

    def ended(self, error: BaseException | None, *, exhausted: bool) -> None:
        if self._done:
            return
        trace = self._trace
        if self._usage is not None:
            self._stream_ended(error, exhausted=exhausted)
        elif trace.status is not None and trace.status >= 400:
            message = b"".join(self._body)[:_MAX_ERROR_BODY].decode("utf-8", "replace")
            trace.fail(f"http_{trace.status}", message, trace.status)
        elif error is not None:
            trace.fail("read_error", _describe(error))
        elif not exhausted:
            self._extra["abandoned"] = True  # closed before the body was read
        elif self._size <= _MAX_BODY:
            self._read_body()
        self._finish()

    def _stream_ended(self, error: BaseException | None, *, exhausted: bool) -> None:
        trace, usage = self._trace, self._usage
        assert usage is not None
        trace.usage = usage.total()
        trace.response_model = usage.model
        trace.finish_reason = usage.finish_reason
        if error is not None:
            trace.fail("stream_interrupted", _describe(error))
        elif self._stream_error is not None:
            trace.fail("stream_error", self._stream_error)
        elif not usage.finished and self._mode == "events":
            if exhausted:
                trace.fail("stream_interrupted", "the stream ended before its last event")
            else:
                # The user stopped reading: their choice, not a failure. The tokens seen so
                # far are kept (the provider bills what it generated).
                self._extra["abandoned"] = True

    def _read_body(self) -> None:
        parsed = _json_object(self._decoded(b"".join(self._body)))
        raw = parsed.get("usage")
        if isinstance(raw, Mapping):
            if self._operation == "responses":
                self._trace.usage = responses_usage(raw)
            elif self._tracker.protocol == "anthropic":
                self._trace.usage = anthropic_usage(raw)
            else:
                self._trace.usage = openai_usage(raw)
        model = parsed.get("model")
        self._trace.response_model = model if isinstance(model, str) else None
        self._trace.finish_reason = _finish_reason(parsed)

    def _decoded(self, body: bytes) -> bytes:
        """The body as the SDK sees it. A compressed body is decoded by the client's own
        httpx module, which reads every encoding the client asked for."""
        response = self._response
        encoding = "" if response is None else response.headers.get("content-encoding", "")
        if response is None or encoding.strip().lower() in ("", "identity"):
            return body
        copy = type(response)(response.status_code, headers=response.headers, content=body)
        return copy.read()

    def _finish(self) -> None:
        self._done = True
        trace = self._trace
        if trace.usage is None and trace.error_type is None:
            # Not zero tokens: the provider did not say (an OpenAI stream without usage).
            self._extra["usage_unknown"] = True
        self._tracker.record(trace, self._extra)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _inflater(encoding: str) -> Callable[[bytes], bytes] | None:
    """Incremental decoding of a compressed event stream (rare: providers send events
    uncompressed). Gzip and deflate only; with anything else the usage stays unknown."""
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress
    if encoding == "deflate":
        return zlib.decompressobj().decompress
    return None


def responses_usage(u: Mapping[str, Any]) -> TokenUsage:
    """Usage of OpenAI's Responses API: the chat-completions categories under other names."""
    return openai_usage(
        {
            "prompt_tokens": u.get("input_tokens"),
            "prompt_tokens_details": u.get("input_tokens_details"),
            "completion_tokens": u.get("output_tokens"),
            "completion_tokens_details": u.get("output_tokens_details"),
        }
    )


class ResponsesStreamUsage:
    """Usage, model and outcome from a Responses API stream: the final ``response.*``
    event carries the whole response object."""

    _FINAL = ("response.completed", "response.incomplete", "response.failed")

    def __init__(self) -> None:
        self.model: str | None = None
        self.finish_reason: str | None = None
        self.finished = False
        self._usage: TokenUsage | None = None

    def see(self, name: str, data: bytes) -> bool:
        if name != "response.created" and name not in self._FINAL:
            return False  # deltas: nothing about usage
        event = _json_object(data)
        response = event.get("response")
        if not isinstance(response, dict):
            return False
        if isinstance(response.get("model"), str):
            self.model = response["model"]
        if name in self._FINAL:
            self.finished = True
            self.finish_reason = _finish_reason(response)
            if isinstance(response.get("usage"), Mapping):
                self._usage = responses_usage(response["usage"])
        return False

    def total(self) -> TokenUsage | None:
        return self._usage


def _finish_reason(body: Mapping[str, Any]) -> str | None:
    if isinstance(body.get("stop_reason"), str):  # Anthropic
        return str(body["stop_reason"])
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):  # chat
        reason = choices[0].get("finish_reason")
        return reason if isinstance(reason, str) else None
    if body.get("object") == "response":  # Responses API: why it stopped, if it stopped early
        details = body.get("incomplete_details")
        if isinstance(details, dict) and isinstance(details.get("reason"), str):
            return str(details["reason"])
        status = body.get("status")
        return status if isinstance(status, str) else None
    return None


def open_recorder(paths: Paths | None = None) -> Recorder:
    """A recorder on the ``TOKENOMY_DB`` database, with prices from the packaged catalog
    and ``prices.toml`` (what ``tokenomy serve`` records with)."""
    from tokenomy.pricing import PriceCatalog
    from tokenomy.store import BatchWriter, open_database
    from tokenomy.store.db import WRITER_CACHE_MB

    paths = paths or Paths.from_env()
    # An application's recorder only appends: a small page cache keeps its memory flat.
    db = open_database(paths.database_url, cache_mb=WRITER_CACHE_MB)
    catalog = PriceCatalog.load(paths.prices_file, cache_dir=paths.cache_dir)
    # Short flushes: a crash loses at most the last 0.2 s of records.
    return Recorder(BatchWriter(db, flush_interval=0.2), catalog)


class _ProcessRecorder:
    """The recorder ``track()`` uses when given none: one per process, opened on the first
    recorded call (so tracking a client costs nothing until it is used), flushed at exit.

    The one piece of process state in the SDK: many clients in one program must share a
    writer instead of each opening the database.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._recorder: Recorder | None = None
        self._error: Exception | None = None

    def get(self) -> Recorder:
        if self._recorder is None:
            with self._lock:
                if self._error is not None:
                    raise self._error  # do not retry opening the database on every call
                if self._recorder is None:
                    try:
                        self._recorder = open_recorder()
                    except Exception as exc:
                        self._error = exc
                        raise
                    atexit.register(self.close)
        return self._recorder

    def close(self) -> None:
        with self._lock:
            recorder, self._recorder = self._recorder, None
        if recorder is not None:
            recorder.close()
            recorder.catalog.save()  # resolved prices, kept for the next process


PROCESS_RECORDER = _ProcessRecorder()
