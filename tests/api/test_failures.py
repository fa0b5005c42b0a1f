"""``failures`` on SQLite and PostgreSQL: groups by error, provider and model, counts per
local day across a clock change, HTTP statuses and example ids for records the tests wrote,
with every expected figure worked out by hand in the comments."""

from __future__ import annotations

from typing import Any

import pytest
from tests.api.insight_records import HOUR, SONNET, T0, call, iso, scope

from tokenomy.api.failures import failures
from tokenomy.api.params import ApiError
from tokenomy.record import CallRecord, Status
from tokenomy.store import Database, write_records


def _fail(name: str, at: int, error: str | None, http: int | None, **kw: Any) -> CallRecord:
    return call(
        name,
        at,
        status=Status.ERROR,
        error_type=error,
        http_status=http,
        cost_nanos=kw.pop("cost_nanos", None),
        **kw,
    )


FAILURE_CALLS = [
    call("o1", T0, cost_nanos=1),
    call("o2", T0 + 5 * HOUR, cost_nanos=1),
    call("o3", T0 + 40 * HOUR, cost_nanos=1),
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
    result = failures(db, scope(timezone="America/Los_Angeles"), 10)
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
    assert (rate["first_at"], rate["last_at"]) == (iso(T0 + HOUR), iso(T0 + 31 * HOUR))
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
    utc = failures(db, scope(), 10)
    assert utc["buckets"] == ["2026-11-01T00:00:00+00:00", "2026-11-02T00:00:00+00:00"]
    assert [r["counts"] for r in utc["rows"]] == [[3, 1], [2, 0], [0, 1], [0, 1]]


def test_failures_limit_keeps_the_details_of_the_groups_shown(db: Database) -> None:
    write_records(db, FAILURE_CALLS)
    result = failures(db, scope(timezone="America/Los_Angeles"), 2)
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
        db, scope(since="2026-11-01", until="2026-11-01", timezone="America/Los_Angeles"), 10
    )
    assert result["total"] == {"calls": 3, "failed_calls": 3, "error_rate": 1.0, "groups": 1}
    assert result["buckets"] == ["2026-11-01T00:00:00-07:00"]
    assert [(r["error_type"], r["counts"], r["share"]) for r in result["rows"]] == [
        ("rate_limit", [3], 1.0)
    ]
    hours = failures(
        db, scope(since="2026-11-01T08:00:00Z", until="2026-11-01T11:00:00Z"), 10, "hour"
    )
    assert hours["buckets"] == [
        "2026-11-01T08:00:00+00:00",
        "2026-11-01T09:00:00+00:00",
        "2026-11-01T10:00:00+00:00",
    ]
    assert [r["counts"] for r in hours["rows"]] == [[1, 0, 1]]


def test_failures_on_an_empty_database(db: Database) -> None:
    assert failures(db, scope(), 10) == {
        "interval": "day",
        "total": {"calls": 0, "failed_calls": 0, "error_rate": 0.0, "groups": 0},
        "buckets": [],
        "rows": [],
    }
    ranged = failures(db, scope(since="2026-11-01", until="2026-11-02"), 10)
    assert ranged["buckets"] == ["2026-11-01T00:00:00+00:00", "2026-11-02T00:00:00+00:00"]
    assert ranged["rows"] == []
    with pytest.raises(ApiError) as err:
        failures(db, scope(since="2026-01-01", until="2026-12-31"), 10, "minute")
    assert (err.value.status, err.value.param) == (422, "interval")
