"""Calls the dashboard tests look at: two days, three projects, tools, a failure, and a
project whose name is markup (it must show as text)."""

from __future__ import annotations

from tests.api.insight_records import HOUR, MINUTE, T0, call

from tokenomy.record import CallRecord, Status, TokenUsage, ToolUse
from tokenomy.store import Database, write_records

HOSTILE = '<img src=x onerror="window.pwned=1">'
# The view every test opens: 2026-11-01..02 in UTC (the calls are at fixed times).
RANGE = "range=custom&since=2026-11-01&until=2026-11-02&tz=UTC"


def seed_calls() -> list[CallRecord]:
    calls = []
    for i in range(60):  # web: 60 calls of $0.01, one session, over the first day
        calls.append(
            call(
                f"web{i:02d}",
                T0 + i * 20 * MINUTE,
                project="web",
                user="ann",
                session_id="sess-web",
                cost_nanos=10_000_000,
                duration_ms=1000 + i,
                tools=[ToolUse("Bash", f"u{i}")] if i % 2 else [],
            )
        )
    for i in range(5):  # api: 5 calls of $0.50 on the second day, with a failure
        calls.append(
            call(
                f"api{i}",
                T0 + 30 * HOUR + i * MINUTE,
                project="api",
                user="bob",
                session_id="sess-api",
                model="claude-opus-4-1",
                cost_nanos=500_000_000,
                status=Status.ERROR if i == 4 else Status.OK,
                error_type="rate_limit" if i == 4 else None,
                http_status=429 if i == 4 else 200,
                tools=[ToolUse("mcp__github__create_issue", f"m{i}")],
            )
        )
    calls.append(
        call(
            "odd",
            T0 + 40 * HOUR,
            project=HOSTILE,
            cost_nanos=1_000_000,
            usage=TokenUsage(input_tokens=7, output_tokens=3),
        )
    )
    return calls


def seed(db: Database) -> None:
    write_records(db, seed_calls())
