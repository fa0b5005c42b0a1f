"""Hourly rollups stay equal to the calls they sum: after inserts, after the upsert
replaces a partial record, after a reprice, and after a rebuild; on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tokenomy.pricing import PriceCatalog
from tokenomy.record import CallRecord, CostSource, Status, TokenUsage
from tokenomy.store import Database, write_records
from tokenomy.store.costs import reprice
from tokenomy.store.rollups import (
    DAY_MS,
    HOUR_MS,
    RAW_DIMS,
    RAW_MEASURES,
    pending_hours,
    rebuild,
    refresh,
)
from tokenomy.store.schema import LEAN_DIMS, ROLLUP_DIMS, ROLLUP_MEASURES

T0 = 1_793_491_200_000  # 2026-11-01T00:00:00Z


GRAINS = (
    ("rollup_hour", "hour", HOUR_MS, ROLLUP_DIMS),
    ("rollup_hour_lean", "hour", HOUR_MS, LEAN_DIMS),
    ("rollup_day", "day", DAY_MS, ROLLUP_DIMS),
    ("rollup_day_lean", "day", DAY_MS, LEAN_DIMS),
)
Sums = dict[tuple[Any, ...], tuple[int, ...]]


def _rollup(db: Database) -> dict[str, Sums]:
    """Every rollup's rows, keyed by table."""
    out = {}
    measures = ", ".join(f'"{m}"' for m in ROLLUP_MEASURES)
    for table, time, _, dims in GRAINS:
        keys = ", ".join(f'"{d}"' for d in dims)
        rows = db.query(f"SELECT {time}, {keys}, {measures} FROM {table}")
        n = 1 + len(dims)
        out[table] = {tuple(r[:n]): tuple(int(v) for v in r[n:]) for r in rows}
    return out


def _direct(db: Database) -> dict[str, Sums]:
    """The same sums straight from calls, at each rollup's grain and dimensions."""
    out = {}
    for table, _, grain, dims in GRAINS:
        time = f"(c.started_at / {grain}) * {grain}"
        keys = ", ".join(RAW_DIMS[d] for d in dims)
        rows = db.query(
            f"SELECT {time}, {keys}, {', '.join(RAW_MEASURES.values())} FROM calls c "
            f"GROUP BY {time}, {keys}"
        )
        n = 1 + len(dims)
        out[table] = {tuple(r[:n]): tuple(int(v or 0) for v in r[n:]) for r in rows}
    return out


def _calls(db: Database) -> int:
    return sum(m[0] for m in _rollup(db)["rollup_hour"].values())


def _records(n: int, seed: int) -> list[CallRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        failed = rng.random() < 0.1
        out.append(
            CallRecord(
                source=rng.choice(["sdk", "gateway"]),
                dedupe_key=f"k{i}",
                started_at_ms=T0 + rng.randrange(0, 30 * HOUR_MS),
                usage=TokenUsage(
                    input_tokens=rng.randrange(0, 5000),
                    cache_read_tokens=rng.randrange(0, 3000),
                    output_tokens=rng.randrange(0, 900),
                ),
                provider="anthropic",
                request_model=rng.choice(["claude-sonnet-4-5", "claude-haiku-4-5"]),
                project=rng.choice(["web", "api", None]),
                user=rng.choice(["ann", "bob", None]),
                duration_ms=rng.choice([None, rng.randrange(1, 700_000)]),
                cost_nanos=None if rng.random() < 0.1 else rng.randrange(0, 10**7),
                cost_source=CostSource.COMPUTED,
                status=Status.ERROR if failed else Status.OK,
                cache_hit=rng.choice(["none", "none", "exact"]),
            )
        )
    return out


def test_refresh_builds_exactly_what_the_calls_sum_to(db: Database) -> None:
    write_records(db, _records(400, 1))
    assert pending_hours(db) == 30
    assert refresh(db) == 30
    assert pending_hours(db) == 0
    assert _rollup(db) == _direct(db)
    assert _calls(db) == 400
    assert len(_rollup(db)["rollup_day"]) < len(_rollup(db)["rollup_hour"])


@pytest.mark.parametrize(
    ("first_hour", "then_hour", "pending"),
    [(5, 5, 1), (2, 40, 2)],  # the same hour; another start (the old hour must forget it)
)
def test_a_replaced_record_is_counted_once_with_its_new_values(
    db: Database, first_hour: int, then_hour: int, pending: int
) -> None:
    """A fuller copy of a call (more tokens), written later, replaces it: counted once, in
    the hour it now starts in, and no longer in its old one nor in the failed calls' copy
    (before a trigger marked the old hour, a moved call was counted in both until a rebuild)."""
    write_records(db, _records(50, 2))
    refresh(db)
    first = CallRecord(
        "sdk", "late", T0 + first_hour * HOUR_MS, TokenUsage(input_tokens=10), status=Status.ERROR
    )
    write_records(db, [first])
    refresh(db)
    complete = CallRecord(
        "sdk", "late", T0 + then_hour * HOUR_MS, TokenUsage(input_tokens=10, output_tokens=99)
    )
    write_records(db, [complete])
    assert pending_hours(db) == pending  # only the hours that changed are recomputed
    assert refresh(db) == pending
    assert _rollup(db) == _direct(db)
    assert _calls(db) == 51
    failed = db.query("SELECT COUNT(*) FROM rollup_failed_calls")[0][0]
    assert failed == db.query("SELECT COUNT(*) FROM calls WHERE status = 'error'")[0][0]


def test_a_reprice_marks_the_hours_it_changed(db: Database) -> None:
    records = [
        CallRecord(
            "sdk",
            f"r{i}",
            T0 + i * HOUR_MS,
            TokenUsage(input_tokens=100_000),
            provider="anthropic",
            request_model="claude-sonnet-4-5",
            cost_nanos=1,  # wrong on purpose: the reprice corrects it
            cost_source=CostSource.COMPUTED,
        )
        for i in range(3)
    ]
    write_records(db, records)
    refresh(db)
    catalog = PriceCatalog.load(None)
    assert reprice(db, catalog).changed == 3
    assert pending_hours(db) == 3
    refresh(db)
    assert _rollup(db) == _direct(db)
    day = _rollup(db)["rollup_day"].values()
    cost = sum(m[ROLLUP_MEASURES.index("cost_nanos")] for m in day)
    assert cost == 3 * 300_000_000  # $3 per million input tokens


def test_rebuild_recovers_from_rollups_edited_behind_its_back(db: Database) -> None:
    write_records(db, _records(200, 3))
    refresh(db)
    with db.transaction() as cur:
        cur.execute("UPDATE rollup_hour SET calls = calls + 7")
        cur.execute(f"DELETE FROM rollup_day WHERE day > {T0}")
    assert _rollup(db) != _direct(db)
    assert rebuild(db) == 30
    assert _rollup(db) == _direct(db)
