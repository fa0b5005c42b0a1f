"""Minute and hour buckets across DST changes, on SQLite and PostgreSQL: each bucket is a
real stretch of time, so the hour repeated when clocks go back is two buckets (one per
offset) and the hour skipped when they go forward is none. Over HTTP too: the dashboard's
"last hour" during a repeated hour used to be a 500."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest
from tests.api.test_api import CATALOG, _get
from tests.gateway.running import RunningGateway

from tokenomy.api.app import AnalyticsApi
from tokenomy.api.failures import failures
from tokenomy.api.params import parse_scope
from tokenomy.api.timeseries import timeseries
from tokenomy.record import CallRecord, Status, TokenUsage
from tokenomy.store import Database, write_records
from tokenomy.store.rollups import refresh

BERLIN = "Europe/Berlin"  # back at 01:00Z on 2026-10-25, forward at 01:00Z on 2026-03-29
NEW_YORK = "America/New_York"  # back at 06:00Z on 2026-11-01


def _call(key: str, when: str, tokens: int, status: Status = Status.OK) -> CallRecord:
    ms = int(datetime.fromisoformat(when).replace(tzinfo=UTC).timestamp() * 1000)
    return CallRecord("sdk", key, ms, TokenUsage(input_tokens=tokens), status=status)


CALLS = [
    _call("spring1", "2026-03-29T00:30:00", 1),  # 01:30 CET
    _call("spring2", "2026-03-29T01:30:00", 2),  # 03:30 CEST
    _call("a", "2026-10-25T00:45:00", 10, Status.ERROR),  # 02:45 CEST
    _call("b", "2026-10-25T01:15:00", 20, Status.ERROR),  # 02:15 CET
    _call("c", "2026-10-25T01:45:00", 40, Status.ERROR),  # 02:45 CET
    _call("d", "2026-10-25T02:10:00", 80),  # 03:10 CET
    _call("e", "2026-11-01T05:50:00", 100),  # 01:50 EDT
    _call("f", "2026-11-01T06:20:00", 200),  # 01:20 EST
]


def _series(db: Database, zone: str, since: str, until: str, **kw: Any) -> dict[str, Any]:
    scope = parse_scope({"timezone": [zone], "since": [since], "until": [until]})
    return timeseries(db, scope, kw.get("interval", "minute"), "input_tokens", None, 5)


def _nonzero(t: dict[str, Any]) -> dict[str, int]:
    values = t["series"][0]["values"] if t["series"] else [0] * len(t["buckets"])
    return {b: v for b, v in zip(t["buckets"], values, strict=True) if v}


def _spaced(buckets: list[str], step_s: int) -> bool:
    """Every label a distinct instant, each ``step_s`` after the last."""
    times = [datetime.fromisoformat(b).timestamp() for b in buckets]
    return all(b - a == step_s for a, b in pairwise(times))


def test_each_call_of_a_repeated_hour_lands_in_its_own_minute(db: Database) -> None:
    write_records(db, CALLS)
    t = _series(db, BERLIN, "2026-10-25T00:30:00Z", "2026-10-25T02:00:00Z")
    assert len(t["buckets"]) == 90 and _spaced(t["buckets"], 60)
    assert t["buckets"][0] == "2026-10-25T02:30:00+02:00"
    assert t["buckets"][30] == "2026-10-25T02:00:00+01:00"  # 02:00 again, an hour later
    assert _nonzero(t) == {
        "2026-10-25T02:45:00+02:00": 10,
        "2026-10-25T02:15:00+01:00": 20,
        "2026-10-25T02:45:00+01:00": 40,
    }


@pytest.mark.parametrize(
    ("zone", "since", "until", "buckets", "total"),
    [
        # What the dashboard's "last hour" asks during the repeated hour.
        (BERLIN, "2026-10-25T00:40:00Z", "2026-10-25T01:40:30Z", 61, 30),
        (NEW_YORK, "2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z", 60, 300),
        # 20 minutes across the change (01:50 CEST to 02:10 CET): was no bucket at all.
        (BERLIN, "2026-10-25T00:50:00Z", "2026-10-25T01:10:00Z", 20, 0),
    ],
)
def test_a_range_across_clocks_going_back_has_a_bucket_per_minute(
    db: Database, zone: str, since: str, until: str, buckets: int, total: int
) -> None:
    write_records(db, CALLS)
    t = _series(db, zone, since, until)
    assert len(t["buckets"]) == buckets and _spaced(t["buckets"], 60)
    assert sum(_nonzero(t).values()) == total


def test_failures_per_minute_across_clocks_going_back(db: Database) -> None:
    write_records(db, CALLS)
    scope = parse_scope(
        {"timezone": [BERLIN], "since": ["2026-10-25T00:30:00Z"], "until": ["2026-10-25T02:00:00Z"]}
    )
    f = failures(db, scope, 10, "minute")
    assert len(f["buckets"]) == 90
    (row,) = f["rows"]
    assert {f["buckets"][i]: n for i, n in enumerate(row["counts"]) if n} == {
        "2026-10-25T02:45:00+02:00": 1,
        "2026-10-25T02:15:00+01:00": 1,
        "2026-10-25T02:45:00+01:00": 1,
    }


@pytest.mark.parametrize("built", [False, True], ids=["calls", "rollups"])
def test_hours_of_a_25_hour_day_and_a_23_hour_day(db: Database, built: bool) -> None:
    write_records(db, CALLS)
    if built:  # whole days and hours are then read from the rollups
        refresh(db)
    t = _series(db, BERLIN, "2026-10-25", "2026-10-25", interval="hour")
    assert len(t["buckets"]) == 25 and _spaced(t["buckets"], 3600)
    assert t["buckets"][2:4] == ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00"]
    assert _nonzero(t) == {
        "2026-10-25T02:00:00+02:00": 10,
        "2026-10-25T02:00:00+01:00": 60,
        "2026-10-25T03:00:00+01:00": 80,
    }
    # Clocks went from 02:00 to 03:00: no 02:00 bucket, 23 hours.
    t = _series(db, BERLIN, "2026-03-29", "2026-03-29", interval="hour")
    assert len(t["buckets"]) == 23 and _spaced(t["buckets"], 3600)
    assert t["buckets"][1:3] == ["2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00"]
    assert _nonzero(t) == {"2026-03-29T01:00:00+01:00": 1, "2026-03-29T03:00:00+02:00": 2}
    t = _series(db, BERLIN, "2026-03-29T00:00:00Z", "2026-03-29T02:00:00Z")
    assert len(t["buckets"]) == 120 and _spaced(t["buckets"], 60)  # not 180


@pytest.fixture
def api(db: Database) -> Iterator[RunningGateway]:
    write_records(db, CALLS)
    with RunningGateway({}, None, api=AnalyticsApi(db, CATALOG)) as gw:
        yield gw


def test_the_last_hour_over_http_during_a_repeated_hour(api: RunningGateway) -> None:
    for path in ("timeseries?metric=calls&", "failures?"):
        status, body, _ = _get(
            api,
            f"/api/v1/{path}interval=minute&timezone={BERLIN}"
            "&since=2026-10-25T00:40:00Z&until=2026-10-25T01:40:30Z",
        )
        assert status == 200, body
        assert len(body["buckets"]) == 61
