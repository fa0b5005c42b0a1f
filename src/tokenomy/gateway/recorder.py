"""Turning a finished gateway call into a call record, priced, without waiting on the
database: the record goes to the :class:`BatchWriter`'s in-memory queue."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tokenomy.pricing import PriceCatalog
from tokenomy.record import (
    PRICE_VARIANT,
    WEB_SEARCHES,
    CallContent,
    CallRecord,
    CostSource,
    Source,
    Status,
    TokenUsage,
    ToolUse,
    new_ulid,
)
from tokenomy.store.writer import BatchWriter

# A captured response beyond this is cut: the record is for reading, not for replay.
MAX_CAPTURED_BYTES = 1 << 20


@dataclass(slots=True)
class CallTrace:
    """What the gateway learns about one call while serving it."""

    operation: str
    alias: str
    # Who saw the call: the gateway, or the in-process SDK wrapper.
    source: str = Source.GATEWAY
    started_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    t0: float = field(default_factory=time.perf_counter)
    provider: str | None = None
    deployment_model: str | None = None
    response_model: str | None = None
    stream: bool = False
    usage: TokenUsage | None = None
    ttft_ms: int | None = None
    status: int | None = None
    error_type: str | None = None
    error: str | None = None
    finish_reason: str | None = None
    project: str | None = None
    user: str | None = None
    session: str | None = None
    tags: list[str] = field(default_factory=list)
    api_key_id: str | None = None
    org: str | None = None
    attempts: int = 0
    # Extra attributes the capturing side knows (e.g. the SDK's "abandoned").
    attributes: dict[str, Any] = field(default_factory=dict)
    # How the provider served the call when that has its own prices (speed=fast...).
    price_variant: str | None = None
    # The tools the answer calls, by the provider's ids (call_tools, `report tools`).
    tools: list[ToolUse] = field(default_factory=list)
    # The provider's own web searches in the answer, billed per search.
    web_searches: int = 0
    # A provider took the request (it answered 2xx): it bills it, whether or not its usage
    # reaches us (a client that leaves mid-stream, a body cut off).
    accepted: bool = False
    # Answered from our response cache ("exact" or "semantic"): no provider was called.
    cache_hit: str = "none"
    # The provider's last stream event has gone to the client: it has the whole answer, even
    # if it hangs up before the response's final (empty) chunk, as SDKs do after [DONE].
    answered: bool = False
    # The alias that answered, when a fallback alias did (the client asked for ``alias``).
    served_alias: str | None = None
    # Hashes of the request (cache/keys.py), never its text: duplicate prompts and shared
    # conversation prefixes are found from them whether content capture is on or off.
    prompt_hash: str | None = None
    prefix_hash: str | None = None
    # Prompt and response text, kept only with --capture-content (None otherwise).
    request_text: str | None = None
    response_parts: list[bytes] | None = None
    captured_bytes: int = 0

    def first_byte(self) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = round((time.perf_counter() - self.t0) * 1000)

    def capture_response(self, body: bytes) -> None:
        self.capture_event(body)

    def capture_event(self, raw: bytes) -> None:
        if self.response_parts is not None and self.captured_bytes < MAX_CAPTURED_BYTES:
            self.response_parts.append(raw)
            self.captured_bytes += len(raw)

    def fail(self, error_type: str, message: str, status: int | None = None) -> None:
        self.error_type, self.error = error_type, message
        if status is not None:
            self.status = status


class Recorder:
    def __init__(self, writer: BatchWriter, catalog: PriceCatalog) -> None:
        self.writer = writer
        self.catalog = catalog

    def record(self, trace: CallTrace) -> CallRecord:
        rec = to_record(trace)
        model = rec.response_model or trace.deployment_model
        if rec.cost_nanos is None and model and rec.usage.total:
            variant = rec.attributes.get(PRICE_VARIANT)
            searches = rec.attributes.get(WEB_SEARCHES, 0)
            cost = self.catalog.cost_nanos(
                rec.provider, model, rec.usage, rec.started_at_ms, variant, searches
            )
            if cost is not None:
                rec.cost_nanos, rec.cost_source = cost, CostSource.COMPUTED
        # Its id now (the writer would give it one anyway): the Gateway page links to it.
        rec.id = rec.id or new_ulid(rec.started_at_ms)
        self.writer.put(rec)
        return rec

    def close(self) -> None:
        self.writer.close()


def to_record(trace: CallTrace) -> CallRecord:
    failed = trace.error_type is not None or (trace.status is not None and trace.status >= 400)
    attributes: dict[str, Any] = {}
    if trace.deployment_model:
        attributes["deployment_model"] = trace.deployment_model
    if trace.stream:
        attributes["stream"] = True
    if trace.tags:
        attributes["tags"] = trace.tags
    if trace.attempts > 1:
        attributes["attempts"] = trace.attempts
    if trace.error:
        attributes["error"] = trace.error[:300]
    routed_from = None
    if trace.served_alias is not None and trace.served_alias != trace.alias:
        routed_from = trace.alias
        attributes["fallback"] = trace.served_alias
    attributes.update(trace.attributes)
    if trace.price_variant:
        attributes[PRICE_VARIANT] = trace.price_variant
    if trace.web_searches:
        attributes[WEB_SEARCHES] = trace.web_searches
    usage = trace.usage or TokenUsage()
    rec = CallRecord(
        source=trace.source,
        dedupe_key=new_ulid(trace.started_ms),
        started_at_ms=trace.started_ms,
        usage=usage,
        duration_ms=round((time.perf_counter() - trace.t0) * 1000),
        ttft_ms=trace.ttft_ms,
        operation=trace.operation,
        provider=trace.provider,
        request_model=trace.served_alias or trace.alias,
        routed_from=routed_from,
        route_policy="fallback" if routed_from else None,
        api_key_id=trace.api_key_id,
        org=trace.org,
        response_model=trace.response_model or trace.deployment_model,
        project=trace.project,
        user=trace.user,
        session_id=trace.session,
        status=Status.ERROR if failed else Status.OK,
        error_type=trace.error_type or (f"http_{trace.status}" if failed else None),
        http_status=trace.status,
        finish_reason=trace.finish_reason,
        cache_hit=trace.cache_hit,
        prompt_hash=trace.prompt_hash,
        prefix_hash=trace.prefix_hash,
        tools=list(trace.tools),
        attributes=attributes,
    )
    if trace.request_text is not None:
        response = b"".join(trace.response_parts or [])[:MAX_CAPTURED_BYTES]
        rec.content = CallContent(trace.request_text, response.decode("utf-8", "replace"))
    if trace.cache_hit != "none":
        rec.cost_nanos, rec.cost_source = 0, CostSource.COMPUTED  # no provider was called
    elif trace.usage is None and (trace.accepted or not failed):
        # A provider answered, but no usage reached us (a stream from a server that ignores
        # stream_options, a client that left before the usage chunk): it billed something,
        # so the cost stays unknown, never $0, and is marked as unknown for want of tokens,
        # not of a price (store/costs.py), so no report asks for a price it has.
        rec.attributes["usage_missing"] = True
    elif failed and usage.total == 0:
        rec.cost_nanos, rec.cost_source = 0, CostSource.COMPUTED  # nothing was billed
    return rec
