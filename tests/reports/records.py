"""Calls the report tests seed, with every figure the tests expect worked out by hand.

UTC times; 2026-11-02 is a Monday, so 2026-11-02..08 is ISO week 2026-W45.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tokenomy.record import CallRecord, CostSource, Status, TokenUsage

HOUR = 3_600_000
EVIL_PROJECT = "<script>alert(1)</script>"
EVIL_MODEL = 'm"<b>&x'
SONNET = "claude-sonnet-4-5"
USD = 1_000_000_000


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def call(key: str, when: str, **kw: Any) -> CallRecord:
    model = kw.pop("model", SONNET)
    source = kw.pop("source", "sdk")
    fields: dict[str, Any] = {
        "provider": "anthropic",
        "request_model": model,
        "response_model": model,
        "cost_source": CostSource.COMPUTED,
        "duration_ms": 1000,
    }
    fields.update(kw)
    usage = fields.pop("usage", TokenUsage(input_tokens=100, output_tokens=10))
    return CallRecord(source, key, at(when), usage, **fields)


WEEK_45 = [
    call(
        "a",
        "2026-11-03T10:00:00",
        project="web",
        session_id="s1",
        cost_nanos=1_250_000_000,  # $1.25
        usage=TokenUsage(input_tokens=1000, cache_read_tokens=4000, output_tokens=200),
    ),
    call(
        "b",
        "2026-11-03T11:00:00",
        provider="openai",
        model="gpt-4o",
        project=EVIL_PROJECT,
        session_id="s2",
        cost_nanos=500_000_000,  # $0.50
        usage=TokenUsage(input_tokens=500, output_tokens=100),
    ),
    call(
        "c",
        "2026-11-03T12:00:00",
        project="web",
        session_id="s1",
        cost_nanos=0,
        status=Status.ERROR,
        error_type="overloaded",
        http_status=529,
        usage=TokenUsage(),
    ),
    call(
        "d",
        "2026-11-04T09:00:00",
        provider="acme",
        model=EVIL_MODEL,
        project="api",
        cost_nanos=None,  # no price: unknown, never $0
        cost_source=CostSource.UNKNOWN,
        usage=TokenUsage(input_tokens=300),
    ),
    call(
        "e",
        "2026-11-05T15:30:00",
        project="api",
        session_id="s3",
        cost_nanos=2_000_000_000,  # $2.00
        usage=TokenUsage(input_tokens=2000, output_tokens=400),
    ),
]
# Week 45: 5 calls, 1 failed (20%), 1 without a price, $3.75 known cost;
# sonnet: a, c, e = $3.25 over 3 calls; gpt-4o: $0.50; the unknown model: 1 call, $0.
WEEK_45_COST = 3.75
WEEK_45_TOKENS = 1000 + 4000 + 200 + 500 + 100 + 300 + 2000 + 400

WEEK_46 = [
    call(
        "f",
        "2026-11-10T08:00:00",
        provider="openai",
        model="gpt-4o",
        project="web",
        cost_nanos=250_000_000,  # $0.25
    ),
]
# A runner record sums an agent run whose calls are also in the agents' logs: reports,
# like the API, leave it out.
RUNNER = call("r", "2026-11-03T10:30:00", source="runner", cost_nanos=99 * USD)

ALL = [*WEEK_45, *WEEK_46, RUNNER]
