"""The per-session, per-prompt and per-prefix rollups hold what their calls sum to, and the
copies of heavy keys' calls are exactly their calls: built in bulk, moved by differences as
hours are refreshed (new calls, keys becoming heavy, a replaced call that changes its
session and prompt, a reprice), after a rebuild and after an interrupted build; SQLite and
PostgreSQL."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tokenomy.pricing import PriceCatalog
from tokenomy.record import CallRecord, CostSource, Status, TokenUsage
from tokenomy.store import Database, key_rollups, write_records
from tokenomy.store.costs import reprice
from tokenomy.store.key_rollups import CALL_DIMS, GROUPINGS, MIXED_BIT, REUSE_SQL, Grouping
from tokenomy.store.rollups import HOUR_MS, rebuild, refresh
from tokenomy.store.schema import GROUP_CALL_COLUMNS, REUSE_SUMS

T0 = 1_793_491_200_000  # 2026-11-01T00:00:00Z


@pytest.fixture(autouse=True)
def few_heavy_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys become heavy (their calls copied) after a handful of calls in these tests."""
    monkeypatch.setattr(key_rollups, "HEAVY_CALLS", 40)


def _reuse(g: Grouping) -> tuple[str, ...]:
    return REUSE_SUMS if g.reuse else ()


def _sums(g: Grouping) -> str:
    """The columns compared: the exact sums, span, mixed bits, dimensions, reuse sums."""
    return "calls, cost_nanos, cost_bound, first_at, last_at, mixed, " + ", ".join(
        [f'"{d}"' for d in g.dims] + list(_reuse(g))
    )


def _records(n: int, seed: int, prefix: str = "k") -> list[CallRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        session = rng.choice([None, *(f"s{j}" for j in range(12))])
        out.append(
            CallRecord(
                source=rng.choice(["sdk", "sdk", "gateway", "runner"]),
                dedupe_key=f"{prefix}{i}",
                started_at_ms=T0 + rng.randrange(0, 50 * HOUR_MS),
                usage=TokenUsage(
                    input_tokens=rng.randrange(0, 5000),
                    cache_read_tokens=rng.choice([0, rng.randrange(0, 9000)]),
                    cache_write_tokens=rng.choice([0, 0, rng.randrange(0, 900)]),
                ),
                provider="anthropic",
                request_model=rng.choice(["claude-sonnet-4-5", "claude-haiku-4-5"]),
                project=rng.choice(["web", "api", None]),
                user=rng.choice(["ann", "bob", None]),
                session_id=session,
                # Recurring prompts, and some sent once (light: all calls at one instant).
                prompt_hash=rng.choice([None, f"{prefix}-once{i}", *(f"p{j}" for j in range(20))]),
                prefix_hash=rng.choice([None, f"{prefix}-x{i}", *(f"x{j}" for j in range(8))]),
                cost_nanos=rng.choice([None, 0, -5, *range(1, 10**6, 9973)]),
                cost_source=CostSource.COMPUTED,
                status=Status.ERROR if rng.random() < 0.2 else Status.OK,
            )
        )
    return out


def _direct_hours(db: Database, g: Grouping) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """The hour rows straight from the calls."""
    hour = f"(c.started_at / {HOUR_MS}) * {HOUR_MS}"
    rows = db.query(
        f"SELECT {hour}, c.{g.column}, COUNT(*), COALESCE(SUM(c.cost_nanos), 0), "
        "COALESCE(SUM(CASE WHEN c.cost_nanos > 0 THEN c.cost_nanos ELSE 0 END), 0), "
        "MIN(c.started_at), MAX(c.started_at), "
        + ", ".join(f"COUNT(DISTINCT COALESCE({CALL_DIMS[d]}, '<null>'))" for d in g.dims)
        + ", "
        + ", ".join(
            [f"MIN({CALL_DIMS[d]})" for d in g.dims] + [f"SUM({REUSE_SQL[n]})" for n in _reuse(g)]
        )
        + f" FROM calls c WHERE c.{g.column} IS NOT NULL GROUP BY {hour}, c.{g.column}"
    )
    n = len(g.dims)
    out = {}
    for r in rows:
        mixed = sum(MIXED_BIT[d] for d, k in zip(g.dims, r[7 : 7 + n], strict=True) if k > 1)
        dims = r[7 + n : 7 + 2 * n]
        out[(r[0], r[1])] = (*(int(v) for v in r[2:7]), mixed, *dims, *map(int, r[7 + 2 * n :]))
    return out


def _typed(g: Grouping, row: Any) -> tuple[Any, ...]:
    n = 6 + len(g.dims)
    return (*(int(v) for v in row[:6]), *row[6:n], *(int(v) for v in row[n:]))


def _hours(db: Database, g: Grouping) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    rows = db.query(f"SELECT hour, {g.column}, {_sums(g)} FROM {g.hourly}")
    return {(r[0], r[1]): _typed(g, r[2:]) for r in rows}


def _totals(db: Database, g: Grouping) -> dict[str, tuple[Any, ...]]:
    rows = db.query(f"SELECT {g.column}, {_sums(g)} FROM {g.totals} WHERE calls > 0")
    return {r[0]: _typed(g, r[1:]) for r in rows}


def _direct_totals(
    g: Grouping, hours: dict[tuple[Any, ...], tuple[Any, ...]]
) -> dict[str, tuple[Any, ...]]:
    """Per key from exact hour rows: sums, span, and a dimension mixed where any hour is
    or two hours differ."""
    out: dict[str, list[Any]] = {}
    n = len(g.dims)
    for (_, key), (calls, cost, bound, first, last, mixed, *rest) in hours.items():
        dims, reuse = rest[:n], rest[n:]
        if key not in out:
            out[key] = [calls, cost, bound, first, last, mixed, *dims, *reuse]
            continue
        t = out[key]
        t[0], t[1], t[2] = t[0] + calls, t[1] + cost, t[2] + bound
        for i, v in enumerate(reuse):
            t[6 + n + i] += v
        t[3], t[4] = min(t[3], first), max(t[4], last)
        for i, d in enumerate(g.dims):
            if t[6 + i] != dims[i]:
                t[5] |= MIXED_BIT[d]
            if dims[i] is not None and (t[6 + i] is None or dims[i] < t[6 + i]):
                t[6 + i] = dims[i]
        t[5] |= mixed
    return {k: tuple(v) for k, v in out.items()}


def _same_totals(
    g: Grouping, got: dict[str, tuple[Any, ...]], want: dict[str, tuple[Any, ...]]
) -> None:
    """Exact sums, and dimensions equal except those marked mixed (any value of theirs)."""
    assert got.keys() == want.keys()
    n = 6 + len(g.dims)
    for key, w in want.items():
        row = got[key]
        assert row[:6] == w[:6] and row[n:] == w[n:], key
        for i, d in enumerate(g.dims):
            if not w[5] & MIXED_BIT[d]:
                assert row[6 + i] == w[6 + i], (key, d)


def _copies(db: Database, g: Grouping) -> set[str]:
    """Heavy keys (all those with HEAVY_CALLS calls or more, or the grouping's own number,
    and none without calls) have exactly their calls copied; no other key has any."""
    heavy = {r[0] for r in db.query(f"SELECT {g.column} FROM {g.totals} WHERE heavy = 1")}
    # Many calls; for prompts and prefixes (no index in calls) calls at more than one instant.
    spread = "" if g.indexed else " OR last_at > first_at"
    many = db.query(
        f"SELECT {g.column} FROM {g.totals} WHERE calls >= ?{spread}",
        (g.heavy_calls or key_rollups.HEAVY_CALLS,),
    )
    assert {r[0] for r in many} <= heavy
    columns = ", ".join(f'c."{c}"' for c in GROUP_CALL_COLUMNS)
    copied = sorted(db.query(f"SELECT {columns} FROM {g.copy} c"), key=repr)
    calls = db.query(f"SELECT {columns} FROM calls c WHERE c.{g.column} IS NOT NULL")
    assert copied == sorted(
        (r for r in calls if r[GROUP_CALL_COLUMNS.index(g.column)] in heavy), key=repr
    )
    return heavy


def _check(db: Database) -> list[set[str]]:
    """Everything matches the calls; the heavy keys of each grouping."""
    heavy = []
    for g in GROUPINGS:
        hours = _direct_hours(db, g)
        assert _hours(db, g) == hours, g.kind
        _same_totals(g, _totals(db, g), _direct_totals(g, hours))
        heavy.append(_copies(db, g))
    return heavy


def test_bulk_build_then_differences_match_the_calls(db: Database) -> None:
    write_records(db, _records(500, 1))
    refresh(db)  # empty per-key tables: built in bulk from the hour rows
    _check(db)
    write_records(db, _records(120, 2, "later"))  # moved by differences
    refresh(db)
    _check(db)
    assert len(_totals(db, GROUPINGS[0])) == 12
    before = _check(db)
    once = [r for r in _records(500, 1) if r.prompt_hash and "-once" in r.prompt_hash]
    again = [  # prompts sent once, sent again later: heavy now
        CallRecord(
            "sdk", f"again{i}", r.started_at_ms + HOUR_MS, TokenUsage(), prompt_hash=r.prompt_hash
        )
        for i, r in enumerate(once[:5])
    ]
    lone = [r for r in _records(500, 1) if r.prefix_hash and "-x" in r.prefix_hash]
    again += [  # and prefixes
        CallRecord(
            "sdk", f"again-x{i}", r.started_at_ms + HOUR_MS, TokenUsage(), prefix_hash=r.prefix_hash
        )
        for i, r in enumerate(lone[:5])
    ]
    write_records(db, [*_records(400, 6, "heavier"), *again])
    refresh(db)
    after = _check(db)
    # Heavy keys of every kind, some of them heavy only since the last refresh.
    assert all(a > b for a, b in zip(after, before, strict=True))


def test_a_replaced_call_leaves_its_old_session_and_prompt(db: Database) -> None:
    write_records(db, _records(300, 3))
    refresh(db)
    first = next(r for r in _records(300, 3) if r.session_id and r.prompt_hash)
    moved = CallRecord(
        first.source,
        first.dedupe_key,
        first.started_at_ms,
        TokenUsage(input_tokens=first.usage.input_tokens + 1),  # more tokens: it replaces
        provider=first.provider,
        request_model=first.request_model,
        session_id="elsewhere",
        prompt_hash="another",
        cost_nanos=123,
        cost_source=CostSource.COMPUTED,
    )
    write_records(db, [moved])
    refresh(db)
    for g in GROUPINGS:
        hours = _direct_hours(db, g)
        assert _hours(db, g) == hours
        got, want = _totals(db, g), _direct_totals(g, hours)
        exact = [0, 1, 2, *range(6 + len(g.dims), 6 + len(g.dims) + len(_reuse(g)))]
        assert {k: [v[i] for i in exact] for k, v in got.items()} == {
            k: [v[i] for i in exact] for k, v in want.items()
        }
        # The old key's span and dimensions may stay wider than its calls: never narrower.
        for key, w in want.items():
            assert got[key][3] <= w[3] and got[key][4] >= w[4]
            assert got[key][5] & w[5] == w[5]
        _copies(db, g)


def test_a_reprice_moves_the_costs(db: Database) -> None:
    records = [
        CallRecord(
            "sdk",
            f"r{i}",
            T0 + i * HOUR_MS,
            TokenUsage(input_tokens=100_000),
            provider="anthropic",
            request_model="claude-sonnet-4-5",
            session_id="s",
            prompt_hash="p",
            cost_nanos=1,
            cost_source=CostSource.COMPUTED,
        )
        for i in range(3)
    ]
    write_records(db, records)
    refresh(db)
    assert reprice(db, PriceCatalog.load(None)).changed == 3
    refresh(db)
    _check(db)
    assert _totals(db, GROUPINGS[0])["s"][1] == 3 * 300_000_000


def test_rebuild_sums_them_again(db: Database) -> None:
    write_records(db, _records(200, 4))
    refresh(db)
    with db.transaction() as cur:
        cur.execute("UPDATE rollup_session SET cost_nanos = cost_nanos + 7")
        cur.execute("DELETE FROM rollup_prompt_hour")
    rebuild(db)
    _check(db)


def test_an_interrupted_bulk_build_is_finished_by_the_next_refresh(db: Database) -> None:
    write_records(db, _records(400, 5))

    class StopError(Exception):
        pass

    def stop_after_first(done: int, total: int) -> None:
        if done < total:
            raise StopError

    # 50 hours over three UTC days: the first day's chunk commits, the rest is left marked.
    with pytest.raises(StopError):
        refresh(db, stop_after_first)
    assert all(not _totals(db, g) for g in GROUPINGS)
    refresh(db)
    _check(db)
