"""The insight queries (top, failures, cache) on SQLite and PostgreSQL: exact totals,
ordering, evidence ids, local-day failure counts and cache estimates for records the tests
wrote, with every expected figure worked out by hand in the comments."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tokenomy.api.insights import cache, failures, top
from tokenomy.api.params import ApiError, Scope, parse_scope
from tokenomy.pricing import PriceCatalog
from tokenomy.record import CallRecord, CostSource, Status, TokenUsage, ToolUse
from tokenomy.runner.family import command_hash, family, family_hash
from tokenomy.store import Database, write_records

CATALOG = PriceCatalog.load(None)
T0 = 1_793_491_200_000  # 2026-11-01T00:00:00Z (a Sunday: US clocks go back at 09:00Z)
MINUTE = 60_000
HOUR = 3_600_000
SONNET = "claude-sonnet-4-5"


def _call(name: str, at: int, **kw: Any) -> CallRecord:
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


def _scope(**params: str) -> Scope:
    return parse_scope({k: [v] for k, v in params.items()})


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# --- top -------------------------------------------------------------------------------------

TOP_CALLS = [
    _call(
        "a01",
        T0,
        session_id="s1",
        project="web",
        user="ann",
        cost_nanos=5_000,
        prompt_hash="p1",
        tools=[ToolUse("Bash", "u1"), ToolUse("Read", "u2")],
    ),
    _call(
        "a02",
        T0 + HOUR,
        session_id="s1",
        project="web",
        user="ann",
        cost_nanos=3_000,
        usage=TokenUsage(input_tokens=50, output_tokens=5),
        prompt_hash="p1",
        tools=[ToolUse("Bash", "u3"), ToolUse("mcp__github__create_issue", "u4")],
    ),
    _call(
        "a03",
        T0 + 2 * HOUR,
        session_id="s1",
        project="web",
        user="ann",
        model="gpt-4o",
        provider="openai",
        cost_nanos=1_000,
        usage=TokenUsage(input_tokens=10),
        status=Status.ERROR,
        error_type="overloaded",
        prompt_hash="p0",
    ),
    _call(
        "a04",
        T0 + 3 * HOUR,
        session_id="s1",
        project="web",
        user="ann",
        cost_nanos=None,
        cost_source=CostSource.UNKNOWN,
        usage=TokenUsage(input_tokens=1, output_tokens=1),
    ),
    _call(
        "a05",
        T0 + 30 * MINUTE,
        session_id="s2",
        project="api",
        user="bob",
        cost_nanos=20_000,
        usage=TokenUsage(input_tokens=1000, output_tokens=100),
        prompt_hash="p2",
    ),
    _call(
        "a06",
        T0 + 4 * HOUR,
        user="ann",
        cost_nanos=100_000,
        usage=TokenUsage(input_tokens=10_000, output_tokens=1000),
    ),
    # A runner record sums an agent run whose calls are above: left out unless asked for.
    _call("r00", T0, source="runner", session_id="s1", project="web", cost_nanos=999_999),
]


@pytest.fixture
def top_db(db: Database) -> Database:
    write_records(db, TOP_CALLS)
    return db


def test_top_sessions_have_measures_models_tools_and_evidence(top_db: Database) -> None:
    result = top(top_db, _scope(), "sessions", 10)
    assert result["what"] == "sessions"
    rows = result["rows"]
    # a06 has no session: left out. s2 costs 20,000 nanos, s1 5,000+3,000+1,000 = 9,000.
    assert [r["key"] for r in rows] == ["s2", "s1"]
    s1 = rows[1]
    assert s1["project"] == "web"
    assert (s1["calls"], s1["failed_calls"], s1["error_rate"]) == (4, 1, 0.25)
    assert (s1["cost_usd"], s1["unknown_cost_calls"]) == (9_000 / 1e9, 1)
    assert s1["tokens"] == {
        "input_tokens": 100 + 50 + 10 + 1,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "cache_write_1h_tokens": 0,
        "output_tokens": 10 + 5 + 0 + 1,
        "reasoning_tokens": 0,
        "total": 161 + 16,
    }
    assert (s1["first_at"], s1["last_at"]) == (
        "2026-11-01T00:00:00.000Z",
        "2026-11-01T03:00:00.000Z",
    )
    assert s1["models"] == [
        {"model": SONNET, "calls": 3, "cost_usd": 8_000 / 1e9},
        {"model": "gpt-4o", "calls": 1, "cost_usd": 1_000 / 1e9},
    ]
    assert s1["tools"] == [
        {"name": "Bash", "mcp_server": None, "uses": 2},
        {"name": "Read", "mcp_server": None, "uses": 1},
        {"name": "mcp__github__create_issue", "mcp_server": "github", "uses": 1},
    ]
    # The most expensive first; a04's unknown cost comes after every known one.
    assert s1["evidence"] == ["a01", "a02", "a03"]
    s2 = rows[0]
    assert (s2["project"], s2["calls"], s2["cost_usd"], s2["tools"], s2["evidence"]) == (
        "api",
        1,
        20_000 / 1e9,
        [],
        ["a05"],
    )
    assert [r["key"] for r in top(top_db, _scope(), "sessions", 1)["rows"]] == ["s2"]


def test_top_projects_keep_calls_without_one_as_a_null_key(top_db: Database) -> None:
    rows = top(top_db, _scope(), "projects", 10)["rows"]
    # None: a06 (100,000); api: a05 (20,000); web: s1 (9,000); the runner record is left out.
    assert [(r["key"], r["cost_usd"], r["calls"], r["sessions"]) for r in rows] == [
        (None, 100_000 / 1e9, 1, 0),
        ("api", 20_000 / 1e9, 1, 1),
        ("web", 9_000 / 1e9, 4, 1),
    ]
    assert rows[0]["evidence"] == ["a06"]
    assert rows[2]["evidence"] == ["a01", "a02", "a03"]


def test_top_users_and_prompts(top_db: Database) -> None:
    users = top(top_db, _scope(), "users", 10)["rows"]
    # ann: 5,000 + 3,000 + 1,000 + 100,000 (a04 unknown); bob: 20,000.
    assert [(r["key"], r["cost_usd"], r["calls"], r["sessions"]) for r in users] == [
        ("ann", 109_000 / 1e9, 5, 1),
        ("bob", 20_000 / 1e9, 1, 1),
    ]
    assert users[0]["evidence"] == ["a06", "a01", "a02"]
    assert users[0]["models"][0] == {"model": SONNET, "calls": 4, "cost_usd": 108_000 / 1e9}
    prompts = top(top_db, _scope(), "prompts", 10)["rows"]
    # p2: 20,000; p1: a01 + a02 = 8,000; p0: 1,000. Calls with no hash are not a prompt.
    assert [(r["key"], r["calls"], r["cost_usd"]) for r in prompts] == [
        ("p2", 1, 20_000 / 1e9),
        ("p1", 2, 8_000 / 1e9),
        ("p0", 1, 1_000 / 1e9),
    ]
    p1 = prompts[1]
    assert (p1["tokens"]["total"], p1["evidence"], p1["sessions"]) == (165, ["a01", "a02"], 1)
    assert (p1["first_at"], p1["last_at"]) == (_iso(T0), _iso(T0 + HOUR))


def test_top_follows_the_scope_filters(top_db: Database) -> None:
    # Only a02 used the GitHub MCP tool: its session shows that call's tools alone.
    rows = top(top_db, _scope(tool="mcp__github__create_issue"), "sessions", 10)["rows"]
    assert [(r["key"], r["calls"], r["cost_usd"], r["evidence"]) for r in rows] == [
        ("s1", 1, 3_000 / 1e9, ["a02"])
    ]
    assert [t["name"] for t in rows[0]["tools"]] == ["Bash", "mcp__github__create_issue"]
    rows = top(top_db, _scope(since="2026-11-01T01:00:00Z", project="web"), "users", 10)["rows"]
    assert [(r["key"], r["calls"], r["cost_usd"]) for r in rows] == [("ann", 3, 4_000 / 1e9)]
    # Asked for by source, the runner record is counted like any other.
    rows = top(top_db, _scope(source="runner"), "sessions", 10)["rows"]
    assert [(r["key"], r["cost_usd"], r["evidence"]) for r in rows] == [
        ("s1", 999_999 / 1e9, ["r00"])
    ]


def test_top_ties_are_ordered_by_key(db: Database) -> None:
    write_records(
        db,
        [
            _call("b1", T0, session_id="zz", cost_nanos=500),
            _call("b2", T0, session_id="aa", cost_nanos=500),
            _call("b3", T0, session_id="mm", cost_nanos=700),
        ],
    )
    rows = top(db, _scope(), "sessions", 10)["rows"]
    assert [r["key"] for r in rows] == ["mm", "aa", "zz"]
    assert [r["key"] for r in top(db, _scope(), "sessions", 2)["rows"]] == ["mm", "aa"]


def _run(name: str, at: int, prompt: str | None, cost: int | None, **kw: Any) -> CallRecord:
    """A runner record as tokenomy run writes it (runner/record.py)."""
    attributes: dict[str, Any] = {}
    if prompt is not None:
        attributes = {
            "command_hash": command_hash(prompt),
            "family": family(prompt),
            "family_hash": family_hash(prompt),
            "attempt": 1,
        }
    prompt_hash = kw.pop("prompt_hash", None if prompt is None else command_hash(prompt))
    return _call(
        name,
        at,
        source="runner",
        operation="agent_run",
        prompt_hash=prompt_hash,
        attributes=attributes,
        cost_nanos=cost,
        cost_source=CostSource.UNKNOWN if cost is None else CostSource.COMPUTED,
        **kw,
    )


FIX_12 = "Fix issue 12 in src/a.py"
FIX_13 = "Fix issue 13 in src/b.py"
SUMMARY = "Summarise the changelog"


def test_top_commands_group_runner_records_by_family(db: Database) -> None:
    write_records(
        db,
        [
            _run("r01", T0, FIX_12, 4_000),
            _run("r02", T0 + HOUR, FIX_12, 2_000),
            _run("r03", T0 + 2 * HOUR, FIX_13, 6_000, status=Status.ERROR, error_type="exit"),
            _run("r04", T0 + 3 * HOUR, SUMMARY, 5_000),
            _run("r05", T0 + 4 * HOUR, SUMMARY, None),
            _run("r06", T0 + 5 * HOUR, None, 50_000),  # no command: not a command row
            _run("r07", T0 + 6 * HOUR, None, 100, prompt_hash="legacy"),  # no family
            # Agent-log calls are not commands, even with the same prompt hash.
            _call("x01", T0, cost_nanos=1_000_000, prompt_hash=command_hash(FIX_12)),
        ],
    )
    rows = top(db, _scope(), "commands", 10)["rows"]
    assert [r["key"] for r in rows] == ["9da2407e103bab64", "57fe9a18b35ab076", "legacy"]
    fix, summary, legacy = rows
    # Issue 12 and issue 13 are one family: 4,000 + 2,000 + 6,000 over 3 runs.
    assert (fix["family"], fix["commands"], fix["runs"], fix["failed_calls"]) == (
        "fix issue <n> in <path>",
        2,
        3,
        1,
    )
    assert (fix["cost_usd"], fix["avg_cost_usd"]) == (12_000 / 1e9, 4_000 / 1e9)
    assert fix["evidence"] == ["r03", "r01", "r02"]
    assert (fix["first_at"], fix["last_at"]) == (_iso(T0), _iso(T0 + 2 * HOUR))
    assert fix["models"] == [{"model": SONNET, "calls": 3, "cost_usd": 12_000 / 1e9}]
    # One run of the summary has no known cost: the average is over the other one.
    assert (summary["family"], summary["runs"], summary["unknown_cost_calls"]) == (
        "summarise the changelog",
        2,
        1,
    )
    assert (summary["cost_usd"], summary["avg_cost_usd"]) == (5_000 / 1e9, 5_000 / 1e9)
    assert summary["evidence"] == ["r04", "r05"]
    assert (legacy["family"], legacy["runs"], legacy["evidence"]) == (None, 1, ["r07"])
    assert [r["key"] for r in top(db, _scope(), "commands", 1)["rows"]] == ["9da2407e103bab64"]
    assert top(db, _scope(source="sdk"), "commands", 10)["rows"] == []
    assert len(top(db, _scope(source="runner,sdk"), "commands", 10)["rows"]) == 3
    narrow = top(db, _scope(since="2026-11-01T01:00:00Z"), "commands", 10)["rows"]
    assert [(r["runs"], r["cost_usd"]) for r in narrow[:1]] == [(2, 8_000 / 1e9)]


def test_top_refuses_an_unknown_kind(db: Database) -> None:
    with pytest.raises(ApiError) as err:
        top(db, _scope(), "colours", 10)
    assert (err.value.status, err.value.param) == (422, "what")


# --- failures --------------------------------------------------------------------------------


def _fail(name: str, at: int, error: str | None, http: int | None, **kw: Any) -> CallRecord:
    return _call(
        name,
        at,
        status=Status.ERROR,
        error_type=error,
        http_status=http,
        cost_nanos=kw.pop("cost_nanos", None),
        **kw,
    )


FAILURE_CALLS = [
    _call("o1", T0, cost_nanos=1),
    _call("o2", T0 + 5 * HOUR, cost_nanos=1),
    _call("o3", T0 + 40 * HOUR, cost_nanos=1),
    # In Los Angeles: f1 Oct 31 18:00 PDT, f2 Nov 1 01:00 PDT, f3 Nov 1 02:00 PST (clocks
    # went back at 09:00Z), f4 Nov 1 23:00 PST; in UTC f4 is on Nov 2.
    _fail("f1", T0 + HOUR, "rate_limit", 429, cost_nanos=100),
    _fail("f2", T0 + 8 * HOUR, "rate_limit", 429, session_id="s1"),
    _fail("f3", T0 + 10 * HOUR, "rate_limit", 529, session_id="s1"),
    _fail("f4", T0 + 31 * HOUR, "rate_limit", None, session_id="s2"),
    # Oct 31 19:00 and 20:00 PDT: a failure with nothing known about it.
    _fail("f6", T0 + 2 * HOUR, None, 500, provider=None, model=None),
    _fail("f8", T0 + 3 * HOUR, None, 500, provider=None, model=None),
    # Nov 2 01:00 and 02:00 PST.
    _fail("f5", T0 + 33 * HOUR, "timeout", None, provider="openai", model="gpt-4o"),
    _fail("f7", T0 + 34 * HOUR, "timeout", None),
]


def test_failures_group_by_error_provider_and_model_per_local_day(db: Database) -> None:
    write_records(db, FAILURE_CALLS)
    result = failures(db, _scope(timezone="America/Los_Angeles"), 10)
    # 11 calls, 8 failed: 8 / 11 = 0.727272...
    assert result["total"] == {"calls": 11, "failed_calls": 8, "error_rate": 0.727273, "groups": 4}
    # From o1 (Oct 31 17:00 PDT) to o3 (Nov 2 08:00 PST): three local days.
    assert result["buckets"] == [
        "2026-10-31T00:00:00-07:00",
        "2026-11-01T00:00:00-07:00",
        "2026-11-02T00:00:00-08:00",
    ]
    rows = result["rows"]
    assert [(r["error_type"], r["provider"], r["model"], r["failed_calls"]) for r in rows] == [
        ("rate_limit", "anthropic", SONNET, 4),
        (None, None, None, 2),
        ("timeout", "anthropic", SONNET, 1),  # ties: by error type, then provider
        ("timeout", "openai", "gpt-4o", 1),
    ]
    rate = rows[0]
    assert rate["counts"] == [1, 3, 0]
    assert rate["share"] == 0.363636  # 4 / 11
    assert rate["http_statuses"] == [429, 529]
    assert (rate["first_at"], rate["last_at"]) == (_iso(T0 + HOUR), _iso(T0 + 31 * HOUR))
    assert rate["examples"] == ["f4", "f3", "f2"]  # the most recent first
    assert (rate["cost_usd"], rate["sessions"]) == (100 / 1e9, 2)
    unknown = rows[1]
    assert (unknown["counts"], unknown["http_statuses"], unknown["examples"]) == (
        [2, 0, 0],
        [500],
        ["f8", "f6"],
    )
    assert unknown["share"] == 0.181818  # 2 / 11
    assert [r["counts"] for r in rows[2:]] == [[0, 0, 1], [0, 0, 1]]
    assert [r["http_statuses"] for r in rows[2:]] == [[], []]

    # In UTC, f4 (Nov 2 07:00Z) moves to the second day.
    utc = failures(db, _scope(), 10)
    assert utc["buckets"] == ["2026-11-01T00:00:00+00:00", "2026-11-02T00:00:00+00:00"]
    assert [r["counts"] for r in utc["rows"]] == [[3, 1], [2, 0], [0, 1], [0, 1]]


def test_failures_limit_keeps_the_details_of_the_groups_shown(db: Database) -> None:
    write_records(db, FAILURE_CALLS)
    result = failures(db, _scope(timezone="America/Los_Angeles"), 2)
    assert result["total"]["groups"] == 4
    rows = result["rows"]
    assert [(r["error_type"], r["counts"], r["examples"]) for r in rows] == [
        ("rate_limit", [1, 3, 0], ["f4", "f3", "f2"]),
        (None, [2, 0, 0], ["f8", "f6"]),
    ]
    assert [r["http_statuses"] for r in rows] == [[429, 529], [500]]


def test_failures_over_a_local_day_with_a_clock_change(db: Database) -> None:
    write_records(db, FAILURE_CALLS)
    # Nov 1 in Los Angeles is 25 hours long: 07:00Z to 08:00Z the next day.
    result = failures(
        db, _scope(since="2026-11-01", until="2026-11-01", timezone="America/Los_Angeles"), 10
    )
    assert result["total"] == {"calls": 3, "failed_calls": 3, "error_rate": 1.0, "groups": 1}
    assert result["buckets"] == ["2026-11-01T00:00:00-07:00"]
    assert [(r["error_type"], r["counts"], r["share"]) for r in result["rows"]] == [
        ("rate_limit", [3], 1.0)
    ]
    hours = failures(
        db, _scope(since="2026-11-01T08:00:00Z", until="2026-11-01T11:00:00Z"), 10, "hour"
    )
    assert hours["buckets"] == [
        "2026-11-01T08:00:00+00:00",
        "2026-11-01T09:00:00+00:00",
        "2026-11-01T10:00:00+00:00",
    ]
    assert [r["counts"] for r in hours["rows"]] == [[1, 0, 1]]


def test_failures_on_an_empty_database(db: Database) -> None:
    assert failures(db, _scope(), 10) == {
        "interval": "day",
        "total": {"calls": 0, "failed_calls": 0, "error_rate": 0.0, "groups": 0},
        "buckets": [],
        "rows": [],
    }
    ranged = failures(db, _scope(since="2026-11-01", until="2026-11-02"), 10)
    assert ranged["buckets"] == ["2026-11-01T00:00:00+00:00", "2026-11-02T00:00:00+00:00"]
    assert ranged["rows"] == []
    with pytest.raises(ApiError) as err:
        failures(db, _scope(since="2026-01-01", until="2026-12-31"), 10, "minute")
    assert (err.value.status, err.value.param) == (422, "interval")


# --- cache -----------------------------------------------------------------------------------


def _calls(prefix: str, at: int, usages: list[TokenUsage], **kw: Any) -> list[CallRecord]:
    """One call per usage, a minute apart, each costing 10 nanos."""
    return [
        _call(f"{prefix}{i}", at + i * MINUTE, usage=u, cost_nanos=10, **kw)
        for i, u in enumerate(usages)
    ]


def _u(inp: int, read: int = 0, write: int = 0, write_1h: int = 0) -> TokenUsage:
    return TokenUsage(
        input_tokens=inp,
        cache_read_tokens=read,
        cache_write_tokens=write,
        cache_write_1h_tokens=write_1h,
    )


CACHE_CALLS = [
    # good: reads 250,000 of 305,000 prompt tokens.
    *_calls(
        "g",
        T0,
        [_u(1000, 50_000, 50_000)] + [_u(1000, 50_000)] * 4,
        session_id="good",
        prefix_hash="pfxgood",
    ),
    # poor1: 6 calls, nothing read; 5 x 30,000 uncached after the first call.
    *_calls("p", T0 + HOUR, [_u(60_000)] + [_u(30_000)] * 5, session_id="poor1"),
    # poor2 (gpt-4o): 5 calls, 10,000 of 210,000 read; 4 x 40,000 uncached after the first.
    *_calls(
        "q",
        T0 + 2 * HOUR,
        [_u(40_000)] * 4 + [_u(40_000, 10_000)],
        session_id="poor2",
        provider="openai",
        model="gpt-4o",
        prefix_hash="pfxbad",
    ),
    # Too few calls, too few tokens, and exactly half read: none of them is poor reuse.
    *_calls("s", T0 + 3 * HOUR, [_u(50_000)] * 4, session_id="small"),
    *_calls("t", T0 + 4 * HOUR, [_u(1000, 0, 0, 2000)] + [_u(1000)] * 4, session_id="thin"),
    *_calls("h", T0 + 5 * HOUR, [_u(10_000, 10_000)] * 5, session_id="half"),
    # Prompts sent more than once (haiku: 100 input + 10 output tokens each).
    _call("d1", T0 + 20 * HOUR, model="claude-haiku-4-5", prompt_hash="dupa", cost_nanos=1_000),
    _call("d2", T0 + 21 * HOUR, model="claude-haiku-4-5", prompt_hash="dupa", cost_nanos=1_500),
    _call(
        "d3",
        T0 + 22 * HOUR,
        model="claude-haiku-4-5",
        prompt_hash="dupa",
        cost_nanos=1_500,
        cache_hit="exact",  # already answered by our response cache
    ),
    _call("e1", T0 + 20 * HOUR, model="claude-haiku-4-5", prompt_hash="dupb", cost_nanos=4_000),
    _call("e2", T0 + 23 * HOUR, model="claude-haiku-4-5", prompt_hash="dupb", cost_nanos=2_500),
    _call("e3", T0 + 23 * HOUR, model="claude-haiku-4-5", prompt_hash="once", cost_nanos=9_000),
]


def test_the_prices_these_figures_assume() -> None:
    sonnet = CATALOG.resolve("anthropic", SONNET, T0)
    gpt = CATALOG.resolve("openai", "gpt-4o", T0)
    haiku = CATALOG.resolve("anthropic", "claude-haiku-4-5", T0)
    assert sonnet is not None and gpt is not None and haiku is not None
    # pico-dollars per token: input - cache read = 2,700 (sonnet), 1,250 (gpt-4o) nanos
    assert (sonnet.input, sonnet.cache_read) == (3_000_000, 300_000)
    assert (gpt.input, gpt.cache_read) == (2_500_000, 1_250_000)
    assert (haiku.input, haiku.output) == (1_000_000, 5_000_000)


def test_cache_summary_and_models(db: Database) -> None:
    write_records(db, CACHE_CALLS)
    result = cache(db, _scope(), CATALOG, 10)
    s = result["summary"]
    # input: sonnet 5,000 + 210,000 + 200,000 + 5,000 + 50,000 = 470,000; gpt 200,000;
    # haiku 6 x 100. Reads: 250,000 + 50,000 + 10,000.
    assert s["tokens"] == {
        "input_tokens": 670_600,
        "cache_read_tokens": 310_000,
        "cache_write_tokens": 50_000,
        "cache_write_1h_tokens": 2_000,
        "prompt": 1_032_600,
    }
    assert s["read_share"] == 0.300213  # 310,000 / 1,032,600
    assert (s["calls"], s["calls_with_cache_reads"]) == (36, 11)
    # 300,000 sonnet reads x 2,700 + 10,000 gpt-4o reads x 1,250 nanos
    assert s["savings_usd"] == (810_000_000 + 12_500_000) / 1e9
    # d3: 100 x 1,000,000 + 10 x 5,000,000 pico = 150,000 nanos
    assert (s["response_cache_hits"], s["response_cache_savings_usd"]) == (1, 150_000 / 1e9)
    assert [(m["key"], m["provider"], m["tokens"]["prompt"]) for m in result["models"]] == [
        (SONNET, "anthropic", 822_000),
        ("gpt-4o", "openai", 210_000),
        ("claude-haiku-4-5", "anthropic", 600),
    ]
    sonnet, gpt, haiku = result["models"]
    assert (sonnet["read_share"], sonnet["savings_usd"], sonnet["calls"]) == (
        0.364964,  # 300,000 / 822,000
        0.81,
        25,
    )
    assert (gpt["read_share"], gpt["savings_usd"], gpt["calls_with_cache_reads"]) == (
        0.047619,
        0.0125,
        1,
    )
    assert (haiku["read_share"], haiku["savings_usd"]) == (0.0, 0.0)
    assert [m["key"] for m in cache(db, _scope(), CATALOG, 1)["models"]] == [SONNET]


def test_cache_finds_sessions_and_prefixes_that_reuse_poorly(db: Database) -> None:
    write_records(db, CACHE_CALLS)
    result = cache(db, _scope(), CATALOG, 10)
    assert result["thresholds"] == {
        "min_calls": 5,
        "min_prompt_tokens": 100_000,
        "max_read_share": 0.5,
    }
    poor = result["poor_reuse_sessions"]
    # poor1: 150,000 x 2,700 nanos = $0.405; poor2: 160,000 x 1,250 nanos = $0.20
    assert [(r["key"], r["potential_savings_usd"]) for r in poor] == [
        ("poor1", 0.405),
        ("poor2", 0.2),
    ]
    assert poor[0]["tokens"] == {
        "input_tokens": 210_000,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "cache_write_1h_tokens": 0,
        "prompt": 210_000,
    }
    assert (poor[0]["calls"], poor[0]["read_share"], poor[0]["cost_usd"]) == (6, 0.0, 60 / 1e9)
    assert (poor[0]["first_at"], poor[0]["last_at"]) == (
        _iso(T0 + HOUR),
        _iso(T0 + HOUR + 5 * MINUTE),
    )
    assert poor[1]["read_share"] == 0.047619  # 10,000 / 210,000
    assert [
        (r["key"], r["sessions"], r["potential_savings_usd"]) for r in result["poor_reuse_prefixes"]
    ] == [("pfxbad", 1, 0.2)]
    assert [r["key"] for r in cache(db, _scope(), CATALOG, 1)["poor_reuse_sessions"]] == ["poor1"]
    only_gpt = cache(db, _scope(model="gpt-4o"), CATALOG, 10)
    assert [r["key"] for r in only_gpt["poor_reuse_sessions"]] == ["poor2"]
    # Lower thresholds: "small" (4 calls, 200,000 tokens) now counts: 3 x 50,000 x 2,700.
    looser = cache(db, _scope(), CATALOG, 10, min_calls=4)
    assert [(r["key"], r["potential_savings_usd"]) for r in looser["poor_reuse_sessions"]] == [
        ("poor1", 0.405),  # a tie: by key
        ("small", 0.405),
        ("poor2", 0.2),
    ]


def test_cache_duplicate_prompts_and_what_a_response_cache_would_save(db: Database) -> None:
    write_records(db, CACHE_CALLS)
    result = cache(db, _scope(), CATALOG, 10)
    # dupb: e2 repeats e1 (the first in time, though dearer): 2,500. dupa: d2 repeats d1
    # for 1,500; d3 was already answered by our cache.
    assert result["summary"]["duplicates"] == {
        "prompts": 2,
        "repeats": 3,
        "cache_hits": 1,
        "repeat_cost_usd": 4_000 / 1e9,
    }
    rows = result["duplicate_prompts"]
    assert result["rows"] == rows
    assert [
        (r["key"], r["calls"], r["repeats"], r["cache_hits"], r["repeat_cost_usd"]) for r in rows
    ] == [
        ("dupb", 2, 1, 0, 2_500 / 1e9),
        ("dupa", 3, 2, 1, 1_500 / 1e9),
    ]
    assert (rows[1]["cost_usd"], rows[1]["evidence"]) == (4_000 / 1e9, ["d2", "d3", "d1"])
    assert (rows[1]["first_at"], rows[1]["last_at"]) == (_iso(T0 + 20 * HOUR), _iso(T0 + 22 * HOUR))
    assert [r["key"] for r in cache(db, _scope(), CATALOG, 1)["rows"]] == ["dupb"]
    # From 21:00 on, dupa's first call in range is d2: nothing left to repeat but a hit.
    late = cache(db, _scope(since="2026-11-01T21:00:00Z"), CATALOG, 10)
    assert [(r["key"], r["repeat_cost_usd"]) for r in late["rows"]] == [("dupa", 0.0)]


def test_cache_on_an_empty_database(db: Database) -> None:
    result = cache(db, _scope(), CATALOG, 10)
    assert result["summary"] == {
        "calls": 0,
        "calls_with_cache_reads": 0,
        "tokens": {
            "input_tokens": 0,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "cache_write_1h_tokens": 0,
            "prompt": 0,
        },
        "read_share": None,
        "cost_usd": 0.0,
        "savings_usd": 0.0,
        "response_cache_hits": 0,
        "response_cache_savings_usd": 0.0,
        "duplicates": {"prompts": 0, "repeats": 0, "cache_hits": 0, "repeat_cost_usd": 0.0},
    }
    for name in (
        "models",
        "poor_reuse_sessions",
        "poor_reuse_prefixes",
        "duplicate_prompts",
        "rows",
    ):
        assert result[name] == []
    for what in ("commands", "sessions", "projects", "users", "prompts"):
        assert top(db, _scope(), what, 10) == {"what": what, "rows": []}
