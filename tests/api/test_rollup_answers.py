"""Answers read from rollups plus the raw edges of a range equal sums computed here from
the records themselves: random times and ranges that fall between hours, three zones
(one with a half-hour offset, where day buckets must come from the calls), filters, and
calls written after the rollups were built. SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tokenomy.api import queries
from tokenomy.api.params import Scope
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


def _records(n: int, seed: int, prefix: str) -> list[CallRecord]:
    rng = random.Random(seed)
    return [
        CallRecord(
            source="sdk",
            dedupe_key=f"{prefix}{i}",
            started_at_ms=T0 + rng.randrange(SPAN),
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


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "Asia/Kolkata"])
def test_sums_over_any_range_equal_the_records(db: Database, zone: str) -> None:
    records = _records(600, 7, "a")
    write_records(db, records)
    refresh(db)
    later = _records(60, 8, "b")  # written after the rollups were built: marked, not built
    write_records(db, later)
    assert pending_hours(db) > 0
    records += later
    tz = ZoneInfo(zone)
    rng = random.Random(zone)
    for _ in range(6):
        start = T0 + rng.randrange(-HOUR, SPAN)
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
                    label = local.replace(minute=0, second=0, microsecond=0)
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


def _tables(zone: str, filters: dict[str, tuple[str, ...]], keys: list[Key]) -> list[str | None]:
    scope = Scope(ZoneInfo(zone), T0 - 90 * 60_000, T0 + 30 * 24 * HOUR + 60_000, filters)
    return [None if r is None else r.table for r, _ in plan(scope, keys)]


def test_each_question_reads_the_coarsest_rollup_that_can_answer_it() -> None:
    assert _tables("UTC", {}, []) == ["rollup_day_lean", "rollup_hour_lean", None]
    assert _tables("UTC", {"user": ("bob",)}, []) == ["rollup_day", "rollup_hour", None]
    assert _tables("UTC", {"session": ("s1",)}, []) == [None]
    assert _tables("UTC", {}, [dimension("session")]) == [None]
    start, end = T0, T0 + 30 * 24 * HOUR
    paris = Scope(ZoneInfo("Europe/Paris"), start, end, {})
    day = bucket(paris, 24 * HOUR, start, end)
    assert _tables("Europe/Paris", {}, [day]) == ["rollup_hour_lean", None]
    kolkata = Scope(ZoneInfo("Asia/Kolkata"), start, end, {})
    assert _tables("Asia/Kolkata", {}, [bucket(kolkata, 24 * HOUR, start, end)]) == [None]
    utc = Scope(ZoneInfo("UTC"), start, end, {})
    assert _tables("UTC", {}, [bucket(utc, 60_000, start, end)]) == [None]
    assert _tables("UTC", {}, [bucket(utc, 24 * HOUR, start, end)])[0] == "rollup_day_lean"
