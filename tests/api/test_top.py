"""``top`` on SQLite and PostgreSQL: exact totals, ordering, models, tools and evidence
ids per session, project, user, prompt and command family for records the tests wrote, with
every expected figure worked out by hand in the comments."""

from __future__ import annotations

from typing import Any

import pytest
from tests.api.insight_records import HOUR, MINUTE, SONNET, T0, call, iso, scope

from tokenomy.api.params import ApiError
from tokenomy.api.top import top
from tokenomy.record import CallRecord, CostSource, Status, TokenUsage, ToolUse
from tokenomy.runner.family import command_hash, family, family_hash
from tokenomy.store import Database, write_records

TOP_CALLS = [
    call(
        "a01",
        T0,
        session_id="s1",
        project="web",
        user="ann",
        cost_nanos=5_000,
        prompt_hash="p1",
        tools=[ToolUse("Bash", "u1"), ToolUse("Read", "u2")],
    ),
    call(
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
    call(
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
    call(
        "a04",
        T0 + 3 * HOUR,
        session_id="s1",
        project="web",
        user="ann",
        cost_nanos=None,
        cost_source=CostSource.UNKNOWN,
        usage=TokenUsage(input_tokens=1, output_tokens=1),
    ),
    call(
        "a05",
        T0 + 30 * MINUTE,
        session_id="s2",
        project="api",
        user="bob",
        cost_nanos=20_000,
        usage=TokenUsage(input_tokens=1000, output_tokens=100),
        prompt_hash="p2",
    ),
    call(
        "a06",
        T0 + 4 * HOUR,
        user="ann",
        cost_nanos=100_000,
        usage=TokenUsage(input_tokens=10_000, output_tokens=1000),
    ),
    # A runner record sums an agent run whose calls are above: left out unless asked for.
    call("r00", T0, source="runner", session_id="s1", project="web", cost_nanos=999_999),
]


@pytest.fixture
def top_db(db: Database) -> Database:
    write_records(db, TOP_CALLS)
    return db


def test_top_sessions_have_measures_models_tools_and_evidence(top_db: Database) -> None:
    result = top(top_db, scope(), "sessions", 10)
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
        # a04's cost is unknown: one of the three, counted apart, never as 0.
        {"model": SONNET, "calls": 3, "cost_usd": 8_000 / 1e9, "unknown_cost_calls": 1},
        {"model": "gpt-4o", "calls": 1, "cost_usd": 1_000 / 1e9, "unknown_cost_calls": 0},
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
    assert [r["key"] for r in top(top_db, scope(), "sessions", 1)["rows"]] == ["s2"]


def test_top_projects_keep_calls_without_one_as_a_null_key(top_db: Database) -> None:
    rows = top(top_db, scope(), "projects", 10)["rows"]
    # None: a06 (100,000); api: a05 (20,000); web: s1 (9,000); the runner record is left out.
    assert [(r["key"], r["cost_usd"], r["calls"], r["sessions"]) for r in rows] == [
        (None, 100_000 / 1e9, 1, 0),
        ("api", 20_000 / 1e9, 1, 1),
        ("web", 9_000 / 1e9, 4, 1),
    ]
    assert rows[0]["evidence"] == ["a06"]
    assert rows[2]["evidence"] == ["a01", "a02", "a03"]


def test_top_users_and_prompts(top_db: Database) -> None:
    users = top(top_db, scope(), "users", 10)["rows"]
    # ann: 5,000 + 3,000 + 1,000 + 100,000 (a04 unknown); bob: 20,000.
    assert [(r["key"], r["cost_usd"], r["calls"], r["sessions"]) for r in users] == [
        ("ann", 109_000 / 1e9, 5, 1),
        ("bob", 20_000 / 1e9, 1, 1),
    ]
    assert users[0]["evidence"] == ["a06", "a01", "a02"]
    assert users[0]["models"][0] == {
        "model": SONNET,
        "calls": 4,
        "cost_usd": 108_000 / 1e9,
        "unknown_cost_calls": 1,  # a04
    }
    prompts = top(top_db, scope(), "prompts", 10)["rows"]
    # p2: 20,000; p1: a01 + a02 = 8,000; p0: 1,000. Calls with no hash are not a prompt.
    assert [(r["key"], r["calls"], r["cost_usd"]) for r in prompts] == [
        ("p2", 1, 20_000 / 1e9),
        ("p1", 2, 8_000 / 1e9),
        ("p0", 1, 1_000 / 1e9),
    ]
    p1 = prompts[1]
    assert (p1["tokens"]["total"], p1["evidence"], p1["sessions"]) == (165, ["a01", "a02"], 1)
    assert (p1["first_at"], p1["last_at"]) == (iso(T0), iso(T0 + HOUR))


def test_top_follows_the_scope_filters(top_db: Database) -> None:
    # Only a02 used the GitHub MCP tool: its session shows that call's tools alone.
    rows = top(top_db, scope(tool="mcp__github__create_issue"), "sessions", 10)["rows"]
    assert [(r["key"], r["calls"], r["cost_usd"], r["evidence"]) for r in rows] == [
        ("s1", 1, 3_000 / 1e9, ["a02"])
    ]
    assert [t["name"] for t in rows[0]["tools"]] == ["Bash", "mcp__github__create_issue"]
    rows = top(top_db, scope(since="2026-11-01T01:00:00Z", project="web"), "users", 10)["rows"]
    assert [(r["key"], r["calls"], r["cost_usd"]) for r in rows] == [("ann", 3, 4_000 / 1e9)]
    # Asked for by source, the runner record is counted like any other.
    rows = top(top_db, scope(source="runner"), "sessions", 10)["rows"]
    assert [(r["key"], r["cost_usd"], r["evidence"]) for r in rows] == [
        ("s1", 999_999 / 1e9, ["r00"])
    ]


def test_top_ties_are_ordered_by_key(db: Database) -> None:
    write_records(
        db,
        [
            call("b1", T0, session_id="zz", cost_nanos=500),
            call("b2", T0, session_id="aa", cost_nanos=500),
            call("b3", T0, session_id="mm", cost_nanos=700),
        ],
    )
    rows = top(db, scope(), "sessions", 10)["rows"]
    assert [r["key"] for r in rows] == ["mm", "aa", "zz"]
    assert [r["key"] for r in top(db, scope(), "sessions", 2)["rows"]] == ["mm", "aa"]


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
    return call(
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
            call("x01", T0, cost_nanos=1_000_000, prompt_hash=command_hash(FIX_12)),
        ],
    )
    rows = top(db, scope(), "commands", 10)["rows"]
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
    assert (fix["first_at"], fix["last_at"]) == (iso(T0), iso(T0 + 2 * HOUR))
    assert fix["models"] == [
        {"model": SONNET, "calls": 3, "cost_usd": 12_000 / 1e9, "unknown_cost_calls": 0}
    ]
    # One run of the summary has no known cost: the average is over the other one.
    assert (summary["family"], summary["runs"], summary["unknown_cost_calls"]) == (
        "summarise the changelog",
        2,
        1,
    )
    assert (summary["cost_usd"], summary["avg_cost_usd"]) == (5_000 / 1e9, 5_000 / 1e9)
    assert summary["evidence"] == ["r04", "r05"]
    assert (legacy["family"], legacy["runs"], legacy["evidence"]) == (None, 1, ["r07"])
    assert [r["key"] for r in top(db, scope(), "commands", 1)["rows"]] == ["9da2407e103bab64"]
    assert top(db, scope(source="sdk"), "commands", 10)["rows"] == []
    assert len(top(db, scope(source="runner,sdk"), "commands", 10)["rows"]) == 3
    narrow = top(db, scope(since="2026-11-01T01:00:00Z"), "commands", 10)["rows"]
    assert [(r["runs"], r["cost_usd"]) for r in narrow[:1]] == [(2, 8_000 / 1e9)]


def test_top_refuses_an_unknown_kind(db: Database) -> None:
    with pytest.raises(ApiError) as err:
        top(db, scope(), "colours", 10)
    assert (err.value.status, err.value.param) == (422, "what")
