"""Reports give exact totals for the calls a test stores, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from tokenomy.analytics.query import Filters
from tokenomy.analytics.reports import build_report
from tokenomy.pricing import PriceCatalog
from tokenomy.record import CallRecord, CostSource, Status, TokenUsage, ToolUse
from tokenomy.store import Database, write_records

CATALOG = PriceCatalog.load(None)
UTC_ZONE = ZoneInfo("UTC")


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def call(
    key: str,
    at: str,
    *,
    project: str = "web",
    session: str = "s1",
    model: str = "claude-sonnet-4-5",
    inp: int = 100,
    out: int = 10,
    read: int = 0,
    cost: int | None = 1000,
    status: str = Status.OK,
    tools: tuple[str, ...] = (),
    source: str = "claude-code",
) -> CallRecord:
    return CallRecord(
        source=source,
        dedupe_key=key,
        started_at_ms=ms(at),
        usage=TokenUsage(input_tokens=inp, output_tokens=out, cache_read_tokens=read),
        provider="anthropic",
        request_model=model,
        project=project,
        session_id=session,
        cost_nanos=cost,
        cost_source=CostSource.COMPUTED if cost is not None else CostSource.UNKNOWN,
        status=status,
        tools=[ToolUse(t, f"{key}-{i}") for i, t in enumerate(tools)],
    )


@pytest.fixture
def stored(db: Database) -> Database:
    write_records(
        db,
        [
            call("a", "2026-03-01T23:30:00", read=1_000_000, tools=("Bash", "Bash", "mcp__gh__pr")),
            call("b", "2026-03-02T00:30:00", project="api", session="s2", tools=("Bash",)),
            call("c", "2026-03-02T12:00:00", model="claude-haiku-4-5", cost=None),
            call(
                "d", "2026-03-09T08:00:00", status=Status.ERROR, inp=0, out=0, cost=0, session="s3"
            ),
            call(
                "e",
                "2026-04-01T01:00:00",
                project="api",
                session="s4",
                source="codex",
                model="gpt-5",
            ),
        ],
    )
    return db


def keys(report: object) -> list[str]:
    return [r.key for r in report.rows]  # type: ignore[attr-defined]


def test_daily_totals_are_exact(stored: Database) -> None:
    report = build_report(stored, CATALOG, "daily", Filters(tz=UTC_ZONE))
    assert keys(report) == ["2026-03-01", "2026-03-02", "2026-03-09", "2026-04-01"]
    t = report.totals
    assert (t.calls, t.failed_calls, t.unknown_cost_calls, t.cost_nanos) == (5, 1, 1, 3000)
    assert t.tokens["input_tokens"] == 400
    assert t.tokens["cache_read_tokens"] == 1_000_000
    # Sonnet 4.5: input $3/M, cache read $0.30/M: 1M reads saved $2.70.
    assert t.cache_savings_nanos == 2_700_000_000


def test_days_follow_the_requested_time_zone(stored: Database) -> None:
    tokyo = build_report(stored, CATALOG, "daily", Filters(tz=ZoneInfo("Asia/Tokyo")))
    assert [(r.key, r.calls) for r in tokyo.rows] == [
        ("2026-03-02", 3),  # 23:30 UTC on the 1st is already the 2nd in Tokyo
        ("2026-03-09", 1),
        ("2026-04-01", 1),
    ]
    # Los Angeles is UTC-8 until 2026-03-08, then UTC-7 (DST).
    la = build_report(stored, CATALOG, "daily", Filters(tz=ZoneInfo("America/Los_Angeles")))
    assert [(r.key, r.calls) for r in la.rows] == [
        ("2026-03-01", 2),
        ("2026-03-02", 1),
        ("2026-03-09", 1),  # 08:00 UTC is 01:00 PDT, 00:00 had it still been PST
        ("2026-03-31", 1),
    ]


def test_half_hour_offsets_are_exact(stored: Database) -> None:
    india = build_report(stored, CATALOG, "daily", Filters(tz=ZoneInfo("Asia/Kolkata")))
    # 23:30 UTC is 05:00 on the 2nd in India; 2026-03-02 12:00 UTC is 17:30 on the 2nd.
    assert [(r.key, r.calls) for r in india.rows][:1] == [("2026-03-02", 3)]


def test_since_until_are_inclusive_local_days(stored: Database) -> None:
    f = Filters(tz=UTC_ZONE, since=date(2026, 3, 2), until=date(2026, 3, 9))
    report = build_report(stored, CATALOG, "daily", f)
    assert keys(report) == ["2026-03-02", "2026-03-09"]
    assert report.totals.calls == 3


def test_weekly_and_monthly(stored: Database) -> None:
    weekly = build_report(stored, CATALOG, "weekly", Filters(tz=UTC_ZONE))
    assert [(r.key, r.calls) for r in weekly.rows] == [
        ("2026-02-23", 1),
        ("2026-03-02", 2),
        ("2026-03-09", 1),
        ("2026-03-30", 1),
    ]
    monthly = build_report(stored, CATALOG, "monthly", Filters(tz=UTC_ZONE))
    assert [(r.key, r.calls) for r in monthly.rows] == [("2026-03", 4), ("2026-04", 1)]


def test_session_project_model_and_filters(stored: Database) -> None:
    sessions = build_report(stored, CATALOG, "session", Filters(tz=UTC_ZONE))
    assert {r.key: (r.calls, r.extra["project"]) for r in sessions.rows} == {
        "s1": (2, "web"),
        "s2": (1, "api"),
        "s3": (1, "web"),
        "s4": (1, "api"),
    }
    projects = build_report(
        stored, CATALOG, "project", Filters(tz=UTC_ZONE, sources=("claude-code",))
    )
    assert {r.key: r.calls for r in projects.rows} == {"web": 3, "api": 1}
    models = build_report(stored, CATALOG, "model", Filters(tz=UTC_ZONE, projects=("api",)))
    assert {r.key: r.calls for r in models.rows} == {"claude-sonnet-4-5": 1, "gpt-5": 1}


def test_breakdown_splits_rows_by_model(stored: Database) -> None:
    report = build_report(stored, CATALOG, "daily", Filters(tz=UTC_ZONE), breakdown=True)
    second = report.rows[1]
    assert {k: r.calls for k, r in second.breakdown.items()} == {
        "claude-sonnet-4-5": 1,
        "claude-haiku-4-5": 1,
    }


def test_tools_count_uses_and_calls_once(stored: Database) -> None:
    report = build_report(stored, CATALOG, "tools", Filters(tz=UTC_ZONE))
    rows = {r.key: (r.calls, r.extra["uses"], r.extra["mcp_server"]) for r in report.rows}
    assert rows == {"Bash": (2, 3, None), "mcp__gh__pr": (1, 1, "gh")}
    assert report.rows[0].key == "Bash"
    assert report.totals.calls == 5  # tool rows overlap; the total counts every call once


def test_blocks_follow_the_five_hour_rule(db: Database) -> None:
    write_records(
        db,
        [
            call("1", "2026-05-01T09:40:00"),  # block 09:00-14:00
            call("2", "2026-05-01T13:59:00"),
            call("3", "2026-05-01T14:00:00"),  # at the end: new block 14:00
            call("4", "2026-05-01T20:00:00"),  # gap over 5 h: new block 20:00
            call("5", "2026-05-01T20:30:00", source="codex"),  # not a Claude call
        ],
    )
    now = ms("2026-05-01T21:00:00")
    report = build_report(
        db, CATALOG, "blocks", Filters(tz=UTC_ZONE, sources=("claude-code",)), now_ms=now
    )
    assert [(r.extra["start_at"], r.calls, r.extra["active"]) for r in report.rows] == [
        ("2026-05-01T09:00:00.000Z", 2, False),
        ("2026-05-01T14:00:00.000Z", 1, False),
        ("2026-05-01T20:00:00.000Z", 1, True),
    ]
    assert report.rows[-1].extra["projected_cost_usd"] > 0


def _blocks(db: Database, since: str | None, until: str | None) -> list[tuple[str, int, int]]:
    berlin = ZoneInfo("Europe/Berlin")
    filters = Filters(
        tz=berlin,
        since=None if since is None else date.fromisoformat(since),
        until=None if until is None else date.fromisoformat(until),
    )
    report = build_report(db, CATALOG, "blocks", filters, now_ms=ms("2027-01-01T00:00:00"))
    return [(r.extra["start_at"], r.calls, r.tokens["input_tokens"]) for r in report.rows]


def test_since_and_until_choose_blocks_without_moving_them(db: Database) -> None:
    write_records(
        db,
        [  # Berlin: 23:59:59 CEST on Oct 24, then 02:45 CEST, 02:15 and 02:45 CET, 03:10 CET
            call("1", "2026-10-24T21:59:59", inp=1),
            call("2", "2026-10-25T00:45:00", inp=10),
            call("3", "2026-10-25T01:15:00", inp=20),
            call("4", "2026-10-25T01:45:00", inp=40),
            call("5", "2026-10-25T02:10:00", inp=80),  # 21:00Z + 5 h: a new block
            call("6", "2026-10-26T21:30:00", inp=100),  # Oct 26 22:30 CET
            call("7", "2026-10-27T00:30:00", inp=200),  # Oct 27 01:30 CET, same block
        ],
    )
    everything = [
        ("2026-10-24T21:00:00.000Z", 4, 71),
        ("2026-10-25T02:00:00.000Z", 1, 80),
        ("2026-10-26T21:00:00.000Z", 2, 300),
    ]
    assert _blocks(db, None, None) == everything
    # The first block began on Oct 24 and holds calls of Oct 25: listed whole, unmoved.
    assert _blocks(db, "2026-10-25", "2026-10-25") == everything[:2]
    assert _blocks(db, "2026-10-25", None) == everything
    # A block that meets the range keeps its calls past the end, as ccusage's do.
    assert _blocks(db, "2026-10-26", "2026-10-26") == everything[2:]
    assert _blocks(db, None, "2026-10-24") == everything[:1]
    assert _blocks(db, "2026-10-27", None) == everything[2:]


def test_a_long_run_of_calls_before_since_still_shapes_the_blocks(db: Database) -> None:
    # A call every 3 hours for 20 days, no quiet stretch: every block follows from the
    # first call, however far back. Blocks start at 09, 15, 21 and 03Z; May 18 in Berlin
    # starts at 22:00Z on May 17, inside the 21:00Z block (21:20Z and 00:20Z).
    write_records(
        db,
        [
            CallRecord("claude-code", f"r{i}", ms("2026-05-01T09:20:00") + i * 3 * 3_600_000)
            for i in range(160)
        ],
    )
    everything = _blocks(db, None, None)
    day = _blocks(db, "2026-05-18", "2026-05-18")
    assert day == [b for b in everything if "2026-05-17T21" <= b[0] < "2026-05-18T22"]
    assert (day[0][0], day[-1][0], len(day)) == (
        "2026-05-17T21:00:00.000Z",
        "2026-05-18T21:00:00.000Z",
        5,
    )


def test_json_shape(stored: Database) -> None:
    out = build_report(stored, CATALOG, "daily", Filters(tz=UTC_ZONE)).to_json()
    assert set(out) == {"report", "timezone", "rows", "totals"}
    required = {
        "key",
        "calls",
        "failed_calls",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cache_write_1h_tokens",
        "reasoning_tokens",
        "cost_usd",
    }
    assert all(required <= set(row) for row in out["rows"])
    assert out["totals"]["cost_usd"] == pytest.approx(3000 / 1e9)


def test_empty_store_gives_empty_report(db: Database) -> None:
    report = build_report(db, CATALOG, "daily", Filters(tz=UTC_ZONE))
    assert report.rows == [] and report.totals.calls == 0


def test_offset_periods_find_dst_changes_to_the_millisecond() -> None:
    from tokenomy.analytics.query import offset_periods

    la = ZoneInfo("America/Los_Angeles")
    periods = offset_periods(la, ms("2026-03-01T00:00:00"), ms("2026-11-30T00:00:00"))
    hour = 3_600_000
    assert periods == [
        (ms("2026-03-01T00:00:00"), -8 * hour),
        (ms("2026-03-08T10:00:00"), -7 * hour),  # 02:00 PST
        (ms("2026-11-01T09:00:00"), -8 * hour),  # 02:00 PDT
    ]
    start, end = ms("2026-01-01T00:00:00"), ms("2026-12-31T00:00:00")
    assert offset_periods(ZoneInfo("Asia/Kathmandu"), start, end) == [
        (start, 5 * hour + 45 * 60_000)
    ]


def test_runner_summaries_are_left_out_unless_asked_for(db: Database) -> None:
    # The same agent run, seen as the agent's own call and as the runner's summary of it.
    write_records(
        db,
        [
            call("msg-1", "2026-03-01T10:00:00", cost=1000),
            call("run-1", "2026-03-01T10:00:00", cost=1000, source="runner"),
        ],
    )
    default = build_report(db, CATALOG, "daily", Filters(tz=UTC_ZONE))
    runs = build_report(db, CATALOG, "daily", Filters(tz=UTC_ZONE, sources=["runner"]))
    assert [r.calls for r in default.rows] == [1]
    assert [r.calls for r in runs.rows] == [1]
    assert default.totals.cost_nanos == runs.totals.cost_nanos == 1000
