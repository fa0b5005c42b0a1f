"""Answers read from rollups plus the raw edges of a range equal sums computed here from
the records themselves: random times and ranges that fall between hours, zones with whole-
and half-hour offsets (where day buckets must come from the calls), ranges across DST
changes (local days of 23 and 25 hours, read from the daily rollups with hours moved),
filters, and calls written after the rollups were built. SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from tokenomy.api import queries
from tokenomy.api.params import Scope, parse_scope
from tokenomy.api.sums import Key, bucket, dimension, plan
from tokenomy.api.timeseries import timeseries
from tokenomy.pricing import PriceCatalog
from tokenomy.record import CallRecord, CostSource, Status, TokenUsage
from tokenomy.store import Database, write_records
from tokenomy.store.rollups import pending_hours, refresh

CATALOG = PriceCatalog.load(None)
T0 = 1_793_491_200_000  # 2026-11-01T00:00:00Z
HOUR = 3_600_000
SPAN = 4 * 24 * HOUR


def _records(n: int, seed: int, prefix: str, t0: int = T0) -> list[CallRecord]:
    rng = random.Random(seed)
    return [
        CallRecord(
            source="sdk",
            dedupe_key=f"{prefix}{i}",
            started_at_ms=t0 + rng.randrange(SPAN),
            usage=TokenUsage(input_tokens=rng.randrange(1, 900), output_tokens=rng.randrange(50)),
            provider="openai",
            request_model=rng.choice(["gpt-4o", "gpt-4o-mini"]),
            project=rng.choice(["web", "api", "etl", None]),
            user=rng.choice(["ann", "bob"]),
            cost_nanos=rng.randrange(10**6),
            cost_source=CostSource.COMPUTED,
            status=Status.ERROR if rng.random() < 0.2 else Status.OK,
        )
        for i in range(n)
    ]


def _ms(day: date, tz: ZoneInfo) -> int:
    """Local midnight of ``day`` in ``tz`` (ms)."""
    return int(datetime.combine(day, time.min, tz).timestamp() * 1000)


# (zone, first day of the records): whole-hour offsets read days with hours moved; the
# others cross DST changes (Paris in spring and autumn, New York in autumn), or have
# offsets of whole hours and a half (Kolkata, Lord Howe's half-hour DST), or far from UTC
# (Kiritimati, +14: ten hours of each UTC day belong to the next local day).
CASES = [
    ("UTC", "2026-11-01"),
    ("Europe/Paris", "2026-11-01"),
    ("Asia/Kolkata", "2026-11-01"),
    ("Europe/Paris", "2026-10-23"),
    ("Europe/Paris", "2026-03-27"),
    ("America/New_York", "2026-10-30"),
    ("Australia/Lord_Howe", "2026-04-03"),
    ("Pacific/Kiritimati", "2026-11-01"),
]


@pytest.mark.parametrize(("zone", "first"), CASES)
def test_sums_over_any_range_equal_the_records(db: Database, zone: str, first: str) -> None:
    t0 = _ms(date.fromisoformat(first), ZoneInfo("UTC"))
    records = _records(600, 7, "a", t0)
    write_records(db, records)
    refresh(db)
    later = _records(60, 8, "b", t0)  # written after the rollups were built: marked, not built
    write_records(db, later)
    assert pending_hours(db) > 0
    records += later
    tz = ZoneInfo(zone)
    rng = random.Random(zone + first)
    local_days = [date.fromordinal(date.fromisoformat(first).toordinal() + i) for i in range(5)]
    for i in range(8):
        if i % 2:  # whole local days, as a dashboard asks
            since, until = sorted(rng.sample(local_days, 2))
            start, end = _ms(since, tz), _ms(until, tz)
        else:
            start = t0 + rng.randrange(-HOUR, SPAN)
            end = start + rng.randrange(1, SPAN)
        name, wanted = rng.choice([(None, None), ("project", "web"), ("user", "bob")])
        filters = {} if name is None else {name: (wanted,)}
        scope = Scope(tz, start, end, filters)
        chosen = [
            r
            for r in records
            if start <= r.started_at_ms < end and (name is None or getattr(r, name) == wanted)
        ]
        s = queries.summary(db, scope, CATALOG)
        assert s["calls"] == len(chosen)
        assert s["failed_calls"] == sum(r.status != Status.OK for r in chosen)
        assert s["cost_usd"] == round(sum(r.cost_nanos or 0 for r in chosen) / 1e9, 9)
        assert s["tokens"]["input_tokens"] == sum(r.usage.input_tokens for r in chosen)

        for by in ("project", "user"):
            b = queries.breakdown(db, scope, by, "key", False, 10)
            expected: dict[str | None, int] = {}
            for r in chosen:
                expected[getattr(r, by)] = expected.get(getattr(r, by), 0) + 1
            assert {row["key"]: row["calls"] for row in b["rows"]} == expected

        for interval, step in (("hour", HOUR), ("day", 24 * HOUR)):
            t = timeseries(db, scope, interval, "calls", None, 5)
            counts: dict[str, int] = {}
            for r in chosen:
                local = datetime.fromtimestamp(r.started_at_ms / 1000, tz)
                if step == HOUR:
                    key = _hour_start(r.started_at_ms, tz)
                else:
                    label = local.replace(hour=0, minute=0, second=0, microsecond=0)
                    key = label.astimezone(UTC).isoformat()
                counts[key] = counts.get(key, 0) + 1
            got = (
                {
                    datetime.fromisoformat(b).astimezone(UTC).isoformat(): v
                    for b, v in zip(t["buckets"], t["series"][0]["values"], strict=True)
                    if v
                }
                if t["series"]
                else {}
            )
            assert got == counts, (zone, interval, start, end)

        # Local days split by project: moved hours carry their dimensions with them.
        t = timeseries(db, scope, "day", "calls", "project", 10)
        by_project: dict[tuple[str, str | None], int] = {}
        for r in chosen:
            local = datetime.fromtimestamp(r.started_at_ms / 1000, tz)
            day = local.replace(hour=0, minute=0, second=0, microsecond=0)
            k = (day.astimezone(UTC).isoformat(), r.project)
            by_project[k] = by_project.get(k, 0) + 1
        split = {
            (datetime.fromisoformat(b).astimezone(UTC).isoformat(), series["key"]): v
            for series in t["series"]
            for b, v in zip(t["buckets"], series["values"], strict=True)
            if v
        }
        assert split == by_project, (zone, start, end)


def _hour_start(ms: int, tz: ZoneInfo) -> str:
    """Where the hour bucket of ``ms`` starts: at the local clock's last whole hour in
    the offset of ``ms`` (the hour repeated when clocks go back is two buckets), or at
    the offset's change if that came later (Lord Howe's half-hour change)."""

    def offset(t: int) -> timedelta | None:
        return datetime.fromtimestamp(t / 1000, tz).utcoffset()

    own = offset(ms)
    assert own is not None
    start = ms - (ms + int(own.total_seconds() * 1000)) % HOUR
    while offset(start) != own:  # a change inside the hour: the minute it took effect
        start += 60_000
    return datetime.fromtimestamp(start / 1000, UTC).isoformat()


def _tables(zone: str, filters: dict[str, tuple[str, ...]], keys: list[Key]) -> list[str | None]:
    """The tables a question reads, in plan order ("moved": hours moved between days)."""
    scope = Scope(ZoneInfo(zone), T0 - 90 * 60_000, T0 + 30 * 24 * HOUR + 60_000, filters)
    return [
        None if r is None else r.table + (" moved" if r.moved_from else "")
        for r, _ in plan(scope, keys)
    ]


def test_each_question_reads_the_coarsest_rollup_that_can_answer_it() -> None:
    assert _tables("UTC", {}, []) == ["rollup_day_lean", "rollup_hour_lean", None]
    assert _tables("UTC", {"user": ("bob",)}, []) == ["rollup_day", "rollup_hour", None]
    assert _tables("UTC", {"session": ("s1",)}, []) == [None]
    assert _tables("UTC", {}, [dimension("session")]) == [None]
    start, end = T0, T0 + 30 * 24 * HOUR
    paris = Scope(ZoneInfo("Europe/Paris"), start, end, {})
    day = bucket(paris, 24 * HOUR, start, end)
    assert _tables("Europe/Paris", {}, [day]) == [
        "rollup_day_lean",
        "rollup_hour_lean",
        None,
        "rollup_hour_lean moved",
    ]
    assert _tables("Europe/Paris", {"user": ("bob",)}, [day])[::3] == [
        "rollup_day",
        "rollup_hour moved",
    ]
    kolkata = Scope(ZoneInfo("Asia/Kolkata"), start, end, {})
    assert _tables("Asia/Kolkata", {}, [bucket(kolkata, 24 * HOUR, start, end)]) == [None]
    utc = Scope(ZoneInfo("UTC"), start, end, {})
    assert _tables("UTC", {}, [bucket(utc, 60_000, start, end)]) == [None]
    assert _tables("UTC", {}, [bucket(utc, 24 * HOUR, start, end)])[0] == "rollup_day_lean"


def _hourly_calls(first: str, hours: int) -> list[CallRecord]:
    t0 = _ms(date.fromisoformat(first), ZoneInfo("UTC"))
    return [
        CallRecord("sdk", f"h{i}", t0 + i * HOUR + 1_000, TokenUsage(input_tokens=1))
        for i in range(hours)
    ]


@pytest.mark.parametrize(
    ("zone", "first", "since", "until", "hours_per_day"),
    [
        # Clocks go back at 01:00Z on 25 October: that local day lasts 25 hours.
        ("Europe/Paris", "2026-10-23", "2026-10-24", "2026-10-26", [24, 25, 24]),
        # Clocks go forward at 01:00Z on 29 March: 23 hours.
        ("Europe/Paris", "2026-03-27", "2026-03-28", "2026-03-30", [24, 23, 24]),
        # New York goes back at 06:00Z on 1 November: 25 hours.
        ("America/New_York", "2026-10-30", "2026-10-31", "2026-11-02", [24, 25, 24]),
    ],
)
def test_local_days_across_a_dst_change_count_each_hour_once(
    db: Database, zone: str, first: str, since: str, until: str, hours_per_day: list[int]
) -> None:
    """One call at the start of every UTC hour for five days: each local day holds as
    many calls as it has hours, read from the daily rollup with the hours moved."""
    write_records(db, _hourly_calls(first, 5 * 24))
    refresh(db)
    scope = parse_scope({"since": [since], "until": [until], "timezone": [zone]})
    assert scope.start_ms is not None and scope.end_ms is not None
    key = bucket(scope, 24 * HOUR, scope.start_ms, scope.end_ms)
    assert next(r.table for r, _ in plan(scope, [key]) if r is not None) == "rollup_day_lean"
    t = timeseries(db, scope, "day", "calls", None, 5)
    assert t["series"][0]["values"] == hours_per_day
    assert [b[:10] for b in t["buckets"]] == [
        date.fromordinal(date.fromisoformat(since).toordinal() + i).isoformat() for i in range(3)
    ]
