"""Refreshing rollups beside an import (store/background_refresh.py, rollup_stage.py): what
it leaves is exactly what a rebuild from the calls gives, whatever the order of the rows,
and a stage that another refresh overtook is never written. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import random
import time
from pathlib import Path
from typing import Any

import pytest

from tokenomy.capture import import_table as import_table_module
from tokenomy.capture.import_table import import_table
from tokenomy.capture.table_rows import TableSpec
from tokenomy.pricing import PriceCatalog
from tokenomy.record import CallRecord, CostSource, Status, TokenUsage
from tokenomy.store import (
    Database,
    background_refresh,
    key_rollups,
    open_database,
    rollup_stage,
    write_records,
)
from tokenomy.store.rollups import (
    DAY_MS,
    HOUR_MS,
    _recompute,
    _runs,
    _staged_inserts,
    pending_hours,
    rebuild,
    refresh,
)

T0 = 1_793_491_200_000  # 2026-11-01T00:00:00Z
CATALOG = PriceCatalog.load(None)
CSV_HEADER = (
    "started_at,provider,request_model,project,user,session_id,prompt_hash,"
    "input_tokens,output_tokens,status,duration_ms"
)


def _records(n: int, seed: int, first_day: int, days: int) -> list[CallRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        out.append(
            CallRecord(
                source="sdk",
                dedupe_key=f"{seed}-{i}",
                started_at_ms=T0 + first_day * DAY_MS + rng.randrange(0, days * DAY_MS),
                usage=TokenUsage(
                    input_tokens=rng.randrange(0, 5000),
                    cache_read_tokens=rng.choice([0, rng.randrange(0, 9000)]),
                    output_tokens=rng.randrange(0, 900),
                ),
                provider="anthropic",
                request_model=rng.choice(["claude-sonnet-4-5", "claude-haiku-4-5"]),
                project=rng.choice(["web", "api", None]),
                user=rng.choice(["ann", "bob", None]),
                session_id=rng.choice([None, *(f"s{j}" for j in range(15))]),
                prompt_hash=rng.choice([None, f"once-{seed}-{i}", *(f"p{j}" for j in range(9))]),
                prefix_hash=rng.choice([None, *(f"x{j}" for j in range(6))]),
                duration_ms=rng.choice([None, rng.randrange(1, 90_000)]),
                cost_nanos=rng.choice([None, *range(1, 10**6, 9973)]),
                cost_source=CostSource.COMPUTED,
                status=Status.ERROR if rng.random() < 0.1 else Status.OK,
                error_type="overloaded" if rng.random() < 0.5 else "timeout",
            )
        )
    return out


def _tables(db: Database) -> list[str]:
    if db.dialect == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'rollup%'"
    else:
        sql = (
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_name LIKE 'rollup%'"
        )
    # Group numbers follow the order failures were first seen: compared by their groups.
    skip = {"rollup_dirty", "rollup_failure_groups"}
    return sorted(r[0] for r in db.query(sql) if r[0] not in skip)


def _snapshot(db: Database) -> dict[str, list[str]]:
    """Every rollup table's rows, in a canonical order (failure groups as their names, calls
    without their ids)."""
    groups = {
        int(r[0]): (r[1], r[2], r[3])
        for r in db.query(
            "SELECT failure_group, error_type, provider, model FROM rollup_failure_groups"
        )
    }
    out: dict[str, list[str]] = {}
    for table in _tables(db):
        with db.transaction() as cur:
            cur.execute(f"SELECT * FROM {table}")
            rows: list[Any] = cur.fetchall()
            names = [d[0] for d in cur.description]
        if "failure_group" in names:
            at = names.index("failure_group")
            rows = [(*r[:at], groups[int(r[at])], *r[at + 1 :]) for r in rows]
        if "id" in names:  # a call's id is made when it is written: the twin's differ
            at = names.index("id")
            rows = [(*r[:at], *r[at + 1 :]) for r in rows]
        out[table] = sorted(repr(tuple(r)) for r in rows)
    return out


def _equal_to_a_rebuild(db: Database) -> None:
    assert pending_hours(db) == 0
    before = _snapshot(db)
    assert sum(len(rows) for rows in before.values()) > 0
    rebuild(db)
    assert _snapshot(db) == before


def test_refreshes_of_the_days_behind_then_a_last_one_equal_a_rebuild(db: Database) -> None:
    write_records(db, _records(300, 1, first_day=0, days=2))
    write_records(db, _records(100, 2, first_day=2, days=1))
    # Days 0 and 1 are behind the batch that starts on day 2.
    assert refresh(db, before=T0 + 2 * DAY_MS + 5 * HOUR_MS) == 48
    assert pending_hours(db) == 24
    # A first build's per-key totals wait for the complete refresh.
    assert key_rollups.empty_totals(db) == frozenset(key_rollups.GROUPINGS)
    write_records(db, _records(100, 3, first_day=3, days=1))
    # Rows out of order: back into a day already refreshed.
    write_records(db, _records(60, 4, first_day=0, days=1))
    back = pending_hours(db) - 48  # the hours of day 0 written again
    assert back > 0
    assert refresh(db, before=T0 + 3 * DAY_MS) == 24 + back
    assert pending_hours(db) == 24
    assert refresh(db) == 24
    assert not key_rollups.empty_totals(db)
    _equal_to_a_rebuild(db)


def test_a_partial_refresh_of_a_database_with_totals_moves_them(
    db: Database, tmp_path: Path
) -> None:
    """With totals already built, refreshes move them by differences, which keep a mixed
    dimension's first value where a rebuild takes the least (key_rollups.py): compared
    with the same writes refreshed only whole."""
    twin = open_database(f"sqlite:///{tmp_path}/twin.db")
    try:
        for target in (db, twin):
            write_records(target, _records(200, 5, first_day=0, days=2))
            refresh(target)  # totals built: later refreshes move them by differences
            write_records(target, _records(200, 6, first_day=1, days=3))
        assert refresh(db, before=T0 + 3 * DAY_MS) > 0
        left = db.query("SELECT MIN(hour), COUNT(*) FROM rollup_dirty")[0]
        assert left[0] >= T0 + 3 * DAY_MS and left[1] > 0  # day 3 waits for the last
        refresh(db)
        refresh(twin)
        assert _snapshot(db) == _snapshot(twin)
    finally:
        twin.close()


def test_a_stage_another_refresh_overtook_is_grouped_again(sqlite_db: Database) -> None:
    db = sqlite_db
    write_records(db, _records(200, 7, first_day=0, days=1))
    hours = sorted(int(r[0]) for r in db.query("SELECT DISTINCT hour FROM rollup_dirty"))
    write_records(db, _records(20, 11, first_day=1, days=1))  # the import's latest batch
    bulk = key_rollups.empty_totals(db)
    runs = _runs(hours, HOUR_MS)
    stale = rollup_stage.stage(db, runs, _staged_inserts(bulk))
    # Meanwhile: more calls in the same hours, and another process's refresh writes them
    # all (on a connection of its own: a stage is that connection's temporary tables).
    write_records(db, _records(100, 8, first_day=0, days=1))
    other = Database(db.url)
    try:
        refresh(other, before=T0 + DAY_MS)
    finally:
        other.close()
    with db.transaction() as cur:
        # Its marks are gone: the stale rows (without the 100 calls) must not be written.
        _recompute(db, cur, hours, bulk, stale)
    assert db.query("SELECT SUM(calls) FROM rollup_hour")[0][0] == 300
    refresh(db)
    assert db.query("SELECT SUM(calls) FROM rollup_hour")[0][0] == 320
    _equal_to_a_rebuild(db)


def test_a_stage_still_valid_is_copied_in(sqlite_db: Database) -> None:
    db = sqlite_db
    write_records(db, _records(200, 9, first_day=0, days=1))
    hours = sorted(int(r[0]) for r in db.query("SELECT DISTINCT hour FROM rollup_dirty"))
    bulk = key_rollups.empty_totals(db)
    staged = rollup_stage.stage(db, _runs(hours, HOUR_MS), _staged_inserts(bulk))
    write_records(db, _records(100, 10, first_day=0, days=1))  # after the stage: a new mark
    with db.transaction() as cur:
        _recompute(db, cur, hours, bulk, staged)
    # The staged sums (200 calls), and the later calls' marks left for the next refresh.
    assert db.query("SELECT SUM(calls) FROM rollup_hour")[0][0] == 200
    assert pending_hours(db) > 0
    refresh(db)
    assert db.query("SELECT SUM(calls) FROM rollup_hour")[0][0] == 300
    _equal_to_a_rebuild(db)


def _csv(path: Path, days: int, per_day: int, *, shuffled: bool) -> Path:
    rng = random.Random(days)
    rows = []
    for i in range(days * per_day):
        t = T0 + i * (DAY_MS // per_day) + rng.randrange(0, 1000)
        rows.append(
            [
                t,
                "anthropic",
                rng.choice(["claude-sonnet-4-5", "claude-haiku-4-5"]),
                rng.choice(["web", "api"]),
                rng.choice(["ann", "bob", "cy"]),
                f"s{i // 40}",
                f"p{rng.randrange(0, 300)}",
                rng.randrange(1, 5000),
                rng.randrange(1, 900),
                rng.choice(["ok"] * 9 + ["error"]),
                rng.randrange(100, 20_000),
            ]
        )
    if shuffled:
        rng.shuffle(rows)
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(CSV_HEADER.split(","))
        out.writerows(rows)
    return path


@pytest.mark.parametrize("shuffled", [False, True], ids=["in-order", "shuffled"])
def test_an_import_refreshes_the_days_behind_it_and_ends_exact(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shuffled: bool
) -> None:
    monkeypatch.setattr(import_table_module, "BATCH_ROWS", 100)
    path = _csv(tmp_path / "calls.csv", days=6, per_day=300, shuffled=shuffled)
    refreshed: list[int] = []
    original = background_refresh.refresh

    def counted(db: Database, progress: Any = None, *, before: int | None = None) -> int:
        n = original(db, progress, before=before)
        refreshed.append(n)
        return n

    monkeypatch.setattr(background_refresh, "refresh", counted)
    behind = background_refresh.BackgroundRefresh(db)
    try:
        summary = import_table(db, CATALOG, path, TableSpec(), None, behind.advance)
        if not shuffled:
            # The days before the last batch's are complete: the thread gets to them.
            deadline = time.monotonic() + 30
            while sum(refreshed) < 5 * 24 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert sum(refreshed) >= 5 * 24
    finally:
        behind.finish()
    assert summary.stored == 1800
    refresh(db)
    _equal_to_a_rebuild(db)


def test_an_error_in_the_thread_is_raised_by_finish(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(db: Database, progress: Any = None, *, before: int | None = None) -> int:
        raise RuntimeError("disk I/O error")

    monkeypatch.setattr(background_refresh, "refresh", broken)
    behind = background_refresh.BackgroundRefresh(sqlite_db)
    behind.advance(T0 + 3 * DAY_MS)
    deadline = time.monotonic() + 30
    while behind.running and time.monotonic() < deadline:
        time.sleep(0.01)  # the thread stops at its first refresh
    with pytest.raises(RuntimeError, match="disk I/O error"):
        behind.finish()


def test_finish_without_a_batch_returns_at_once(sqlite_db: Database) -> None:
    behind = background_refresh.BackgroundRefresh(sqlite_db)
    behind.finish()
    assert pending_hours(sqlite_db) == 0


def test_an_in_memory_database_is_left_to_the_imports_own_refresh() -> None:
    memory = open_database("sqlite://")
    try:
        write_records(memory, _records(50, 12, first_day=0, days=3))
        behind = background_refresh.BackgroundRefresh(memory)
        behind.advance(T0 + 3 * DAY_MS)
        assert not behind.running  # another connection would see an empty database
        behind.finish()
        assert pending_hours(memory) > 0
    finally:
        memory.close()
