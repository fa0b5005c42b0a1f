"""What the insight tests (``test_top``, ``test_failures``, ``test_cache_report``) share:
a start time on the day US clocks go back, so local-day figures cross a clock change, a call
builder whose ids are the calls' names, so evidence can be asserted by name, and helpers
for scopes and timestamps as the API writes them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tokenomy.api.params import Scope, parse_scope
from tokenomy.record import CallRecord, CostSource, TokenUsage

T0 = 1_793_491_200_000  # 2026-11-01T00:00:00Z (a Sunday: US clocks go back at 09:00Z)
MINUTE = 60_000
HOUR = 3_600_000
SONNET = "claude-sonnet-4-5"


def call(name: str, at: int, **kw: Any) -> CallRecord:
    """A call whose id is its name, so evidence can be asserted."""
    model = kw.pop("model", SONNET)
    fields: dict[str, Any] = {
        "provider": "anthropic",
        "request_model": model,
        "response_model": model,
        "cost_source": CostSource.COMPUTED,
    }
    fields.update(kw)
    usage = fields.pop("usage", TokenUsage(input_tokens=100, output_tokens=10))
    source = fields.pop("source", "sdk")
    return CallRecord(source, name, at, usage, id=name, **fields)


def scope(**params: str) -> Scope:
    return parse_scope({k: [v] for k, v in params.items()})


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
