"""Which sessions or prompts cost the most in a scope, without grouping all its calls.

Grouping a month of calls by session or prompt hash reads millions of rows (9 s for top
sessions and 19 s for top prompts over 30 days of 10M calls). Instead, a threshold
algorithm over the per-key rollups (store/key_rollups.py), whose ``cost_bound`` (the sum of
a key's positive costs) bounds what any range and filter can leave of its cost:

1. Walk the keys from the highest bound down (an index), skipping those whose calls lie
   outside the range or whose only value of a filtered dimension is not asked for.
2. A key whose calls all lie in the range and all share a value the filters ask for is in
   the answer with its whole cost. Any other (cut by the range, mixed on a filtered
   dimension, or filtered on a dimension its rollup does not keep) has its in-scope cost
   summed from its own calls: by key (ix_calls_session) or, for prompts, at the one
   instant a light prompt's calls share (ix_calls_started_at), and for a heavy key from
   its copy (store/key_rollups.py).
3. Stop once ``limit`` keys have an exact cost higher than the bound of every key not yet
   read: no later key can outrank them.

The answer is the same set, in the same order, as grouping all the calls (ties on cost
are all read before stopping, then ordered by key as ``ranked.rank`` does). The caller
sums the rows of the chosen keys from their calls with the raw query itself and checks the
costs agree. A question the rollups cannot answer (a filter on tool or session, or a walk
that would sum more than ``RAW_KEYS_MAX`` keys from their calls: a filter the rollups
cannot decide for most keys, on groups whose matching calls cost little) returns None: the
caller groups the calls as before. So does a scope of few calls, where that is as fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tokenomy.api.params import DOUBLE_COUNTED_SOURCE, Scope
from tokenomy.api.ranked import MODEL, key_in, rank, where_and
from tokenomy.api.sums import sums
from tokenomy.store import rollups
from tokenomy.store.db import Database
from tokenomy.store.key_rollups import MIXED_BIT, Grouping

# API filter -> per-key rollup column (the dimensions it keeps; not tool or session).
_COLUMN_OF = {
    "source": "source",
    "provider": "provider",
    "model": "model",
    "project": "project",
    "user": "user",
    "key": "api_key_id",
    "org": "org",
    "status": "status",
}
# Below this many calls in scope, grouping them takes a few tens of milliseconds: no walk.
RAW_CALLS_MAX = 20_000
# Keys whose in-scope cost had to be summed from their calls, past which grouping the calls
# is the cheaper way (each costs an indexed read of the key's calls).
RAW_KEYS_MAX = 3_000
# Keys read per page of the walk: the first page is a few times the limit, then doubles.
FIRST_PAGE_MIN = 64
PAGE_MAX = 4_096


# (model, calls, cost in nano-dollars) of a key's calls in scope.
# Calls whose cost is unknown (no price for their model), summed in SQL.
UNKNOWN_COST = "SUM(CASE WHEN c.cost_nanos IS NULL THEN 1 ELSE 0 END)"
# (model, calls, cost in nanos, calls whose cost is unknown) per model.
ModelSums = tuple[tuple[Any, int, int, int], ...]


@dataclass(frozen=True, slots=True)
class Leader:
    """A key of the answer: its cost in scope (nano-dollars), whether its calls are
    copied (``heavy``: read them from ``grouping.copy``, one sweep), when its first call
    was (where a light key's calls all are if ``calls`` has no index by the key), and, when
    its cost was summed from its calls, its sums per model (so the answer's model lists
    need no second read of the same calls)."""

    key: str
    cost: int
    heavy: bool
    at: int
    models: ModelSums | None = None


def calls_of(grouping: Grouping, light: Sequence[Leader]) -> tuple[str, list[Any]]:
    """A condition on ``calls c`` matching the calls of light keys: by the key's index,
    or for keys without one by the time index, at the instants their calls share."""
    return light_calls(grouping, [(k.key, k.at) for k in light])


def light_calls(grouping: Grouping, keys: Sequence[tuple[Any, int]]) -> tuple[str, list[Any]]:
    """:func:`calls_of` for (key, first call) pairs."""
    cond, values = key_in(f"c.{grouping.column}", [k for k, _ in keys])
    if grouping.indexed:
        return cond, values
    instants = sorted({at for _, at in keys})
    marks = ", ".join("?" * len(instants))
    return f"c.started_at IN ({marks}) AND {cond}", [*instants, *values]


@dataclass(frozen=True, slots=True)
class _Walk:
    """The SQL of a walk: candidate keys of the scope, the highest bound first."""

    grouping: Grouping
    sql: str
    params: list[Any]
    # Mixed bits of the dimensions the scope filters on; -1: a filter on a dimension the
    # rollup does not keep, so no key's stored cost can be taken as it is.
    filtered_bits: int


def leaders(db: Database, grouping: Grouping, scope: Scope, limit: int) -> list[Leader] | None:
    """The ``limit`` most expensive keys of the scope, ranked as ``ranked.rank`` orders
    them; None when the rollups cannot answer (see the module)."""
    if any(f not in _COLUMN_OF for f in scope.filters):
        return None
    if rollups.has_pending(db):
        rollups.refresh(db)
    if _calls_in(db, scope) <= RAW_CALLS_MAX:
        return None
    walk = _walk(grouping, scope)
    found: list[Leader] = []  # every key read that has calls in scope
    summed = 0
    after: tuple[int, str] | None = None
    page = max(FIRST_PAGE_MIN, 4 * limit)
    while True:
        rows = _page(db, walk, after, page)
        exact, unknown = _split(rows, walk, scope)
        summed += len(unknown)
        if summed > RAW_KEYS_MAX:
            return None
        found += exact + _costs(db, grouping, scope, unknown)
        found.sort(key=lambda f: rank(f.cost, f.key))
        if len(rows) < page:
            break  # every candidate read
        after = (int(rows[-1][4]), rows[-1][0])
        if len(found) >= limit and found[limit - 1].cost > after[0]:
            break  # every key not read is bounded below the last one kept
        page = min(2 * page, PAGE_MAX)
    return found[:limit]


def _calls_in(db: Database, scope: Scope) -> int:
    """Calls in scope, from the hourly and daily rollups (the edges from the calls)."""
    return int(sums(db, scope, (), ("calls",))[0][0])


def key_conditions(grouping: Grouping, scope: Scope) -> tuple[list[str], list[Any], int]:
    """Conditions on a per-key row ``t`` for a key that can have calls in scope (its span
    meets the range; each filtered dimension has an asked-for value, or several), their
    parameters, and the mixed bits of the filtered dimensions (-1: a filter on a dimension
    the rollup does not keep, so no key's stored sums can be taken as they are)."""
    parts = ["t.calls > 0"]
    params: list[Any] = []
    if scope.start_ms is not None:
        parts.append("t.last_at >= ?")
        params.append(scope.start_ms)
    if scope.end_ms is not None:
        parts.append("t.first_at < ?")
        params.append(scope.end_ms)
    bits = MIXED_BIT["source"]  # the default filter leaves runner records out
    for name, values in scope.filters.items():
        column = _COLUMN_OF[name]
        if column not in grouping.dims:
            bits = -1
            continue
        bits |= MIXED_BIT[column]
        marks = ", ".join("?" * len(values))
        # A key can have calls in scope if the filter takes its one value, or it has several.
        parts.append(f'((t.mixed & {MIXED_BIT[column]}) <> 0 OR t."{column}" IN ({marks}))')
        params.extend(values)
    if "source" not in scope.filters:
        parts.append(f"((t.mixed & {MIXED_BIT['source']}) <> 0 OR t.source <> ?)")
        params.append(DOUBLE_COUNTED_SOURCE)
    return parts, params, bits


def whole_in_scope(first: int, last: int, mixed: int, bits: int, scope: Scope) -> bool:
    """Whether a key's stored sums are its sums in scope: all its calls lie in the range
    and share the values the filters ask for (``bits`` from :func:`key_conditions`)."""
    inside = (scope.start_ms is None or first >= scope.start_ms) and (
        scope.end_ms is None or last < scope.end_ms
    )
    return inside and bits >= 0 and not int(mixed) & bits


def _walk(grouping: Grouping, scope: Scope) -> _Walk:
    parts, params, bits = key_conditions(grouping, scope)
    key = f"t.{grouping.column}"
    sql = (
        f"SELECT {key}, t.first_at, t.last_at, t.cost_nanos, t.cost_bound, t.mixed, t.heavy "
        f"FROM {grouping.totals} t WHERE {' AND '.join(parts)}"
    )
    return _Walk(grouping, sql, params, bits)


def _page(db: Database, walk: _Walk, after: tuple[int, str] | None, size: int) -> list[Any]:
    """The next ``size`` candidates after ``after`` (bound, key), in index order."""
    key = f"t.{walk.grouping.column}"
    sql, params = walk.sql, list(walk.params)
    if after is not None:
        sql += f" AND (t.cost_bound < ? OR (t.cost_bound = ? AND {key} < ?))"
        params += [after[0], after[0], after[1]]
    sql += f" ORDER BY t.cost_bound DESC, {key} DESC LIMIT ?"
    return db.query(sql, [*params, size])


def _split(rows: Sequence[Any], walk: _Walk, scope: Scope) -> tuple[list[Leader], list[Leader]]:
    """Candidates whose cost in scope is their whole cost, and those whose cost must be
    summed from their calls (with cost 0 until it is)."""
    exact: list[Leader] = []
    unknown: list[Leader] = []
    for key, first, last, cost, _bound, mixed, heavy in rows:
        if whole_in_scope(first, last, mixed, walk.filtered_bits, scope):
            exact.append(Leader(key, int(cost), bool(heavy), int(first)))
        else:
            unknown.append(Leader(key, 0, bool(heavy), int(first)))
    return exact, unknown


def _costs(db: Database, grouping: Grouping, scope: Scope, keys: Sequence[Leader]) -> list[Leader]:
    """The in-scope cost of each key with calls in scope: read from its calls (light) or
    from their copy (heavy)."""
    where, params = scope.where()
    column = f"c.{grouping.column}"
    out: list[Leader] = []
    for table, heavy in (("calls", False), (grouping.copy, True)):
        chosen = {k.key: k for k in keys if k.heavy == heavy}
        if not chosen:
            continue
        if heavy:
            cond, values = key_in(column, list(chosen))
        else:
            cond, values = calls_of(grouping, list(chosen.values()))
        rows = db.query(
            f"SELECT {column}, {MODEL}, COUNT(*), COALESCE(SUM(c.cost_nanos), 0), "
            f"{UNKNOWN_COST} FROM {table} c"
            f"{where_and(where, cond)} GROUP BY {column}, {MODEL}",
            [*params, *values],
        )
        models: dict[str, list[tuple[Any, int, int, int]]] = {}
        for key, model, calls, cost, unknown in rows:
            models.setdefault(key, []).append((model, int(calls), int(cost), int(unknown)))
        out += [
            Leader(key, sum(m[2] for m in ms), heavy, chosen[key].at, tuple(ms))
            for key, ms in models.items()
        ]
    return out
