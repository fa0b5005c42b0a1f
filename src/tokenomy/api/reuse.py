"""Sessions and prompt prefixes that reuse the provider's prompt cache poorly (``/cache``).

A key (a session, a prefix) reuses the cache poorly when, in scope, it has at least
``min_calls`` calls and ``min_prompt_tokens`` prompt tokens yet read less than half of
them from the cache; the answer lists the ``limit`` whose better reuse could have saved
the most (``potential``: the uncached input after the key's first call in scope, priced
per model and UTC day at the input price minus the cache-read price), then by key.

Grouping a month of calls by session took seconds at 10M calls (40,000 sessions of that
month qualify). Instead, a walk over the per-key rollups (store/key_rollups.py), which keep
each key's calls, prompt tokens, cache reads and uncached input, in the way of
``threshold.py``: a key's potential is at most its uncached input times the dearest rate
(input minus cache-read price) of its model over the range's days, so keys are read from
the largest uncached input down, one list per provider and model (the rate is known) and
one for keys that mix them (the dearest rate of any model in scope), and the walk stops
once ``limit`` exact potentials beat what any key not yet read could reach. A key's
stored sums decide, without reading its calls, that a key wholly in scope does not
qualify; the others, and every key that might enter the answer, are summed from their
calls (by ``ix_calls_session``, at a prefix's one instant, or from the copy of a heavy
key's calls) with the same SQL as grouping all the calls, so the rows are the same.
Keys of models with nothing to save are read last, and only while fewer than ``limit``
keys have something to save (they then fill the list by key). A question the walk cannot
settle (a filter on tool or session, too many keys to sum) returns None and the caller
groups the calls.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from tokenomy.analytics.reports import SavingsPricer
from tokenomy.analytics.rows import iso_utc
from tokenomy.api.params import Scope
from tokenomy.api.queries import DAY_MS, usd
from tokenomy.api.ranked import MODEL, key_in, rank, where_and
from tokenomy.api.sums import dimension, stored_hours, sums, value
from tokenomy.api.threshold import key_conditions, light_calls, whole_in_scope
from tokenomy.store import rollups
from tokenomy.store.db import Database
from tokenomy.store.key_rollups import REUSE_MIXED, Grouping

CACHE_TOKENS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens")
READS = CACHE_TOKENS.index("cache_read_tokens")
PROMPT = "c.input_tokens + c.cache_read_tokens + c.cache_write_tokens + c.cache_write_1h_tokens"
# The filters the per-key rollups can decide (not tool or session).
_WALKABLE = frozenset(("source", "provider", "model", "project", "user", "key", "org", "status"))
# Keys summed from their calls past which grouping the calls is the cheaper way.
RAW_KEYS_MAX = 2_000
# Rows read per page of one list (the first page, then doubling up to PAGE), keys summed
# per round, and the most keys named in a query rather than selected again.
FIRST_PAGE = 8
PAGE = 256
BATCH = 32
NAMED_KEYS_MAX = 500


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


@dataclass(frozen=True, slots=True)
class Thresholds:
    min_calls: int
    min_prompt_tokens: int

    def having(self) -> str:
        return (
            f"COUNT(*) >= ? AND SUM({PROMPT}) >= ? AND 2 * SUM(c.cache_read_tokens) < SUM({PROMPT})"
        )

    def params(self) -> list[Any]:
        return [self.min_calls, self.min_prompt_tokens]


def poor_reuse(
    db: Database,
    scope: Scope,
    savings: SavingsPricer,
    grouping: Grouping,
    thresholds: Thresholds,
    limit: int,
    models: Iterable[tuple[Any, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The ``limit`` keys of ``grouping`` with the most to save from better cache reuse;
    ``models``: the (provider, model) pairs of the scope's calls, if known."""
    walked = _walk(db, scope, savings, grouping, thresholds, limit, models)
    if walked is not None:
        return walked
    where, params = scope.where()
    return _ranked(_rows(db, savings, grouping, "calls", where, params, thresholds), limit)


@dataclass(slots=True)
class _Row:
    """A qualifying key, as the raw SQL sums it: its JSON item and potential (nanos)."""

    key: Any
    potential: int
    item: dict[str, Any]


def _ranked(rows: Sequence[_Row], limit: int) -> list[dict[str, Any]]:
    return [r.item for r in sorted(rows, key=lambda r: rank(r.potential, r.key))[:limit]]


def _rows(
    db: Database,
    savings: SavingsPricer,
    grouping: Grouping,
    table: str,
    where: str,
    params: list[Any],
    thresholds: Thresholds,
) -> list[_Row]:
    """Every qualifying key among the calls of ``table`` that ``where`` matches: sums,
    then the uncached input after each key's first call, per model and day (priced)."""
    key = f"c.{grouping.column}"
    where = where_and(where, f"{key} IS NOT NULL")
    having = thresholds.having()
    found = db.query(
        f"SELECT {key}, COUNT(*), "
        + ", ".join(f"SUM(c.{t})" for t in CACHE_TOKENS)
        + ", COALESCE(SUM(c.cost_nanos), 0), MIN(c.started_at), MAX(c.started_at), "
        f"MIN(c.project), COUNT(DISTINCT c.session_id) "
        f"FROM {table} c{where} GROUP BY {key} HAVING {having}",
        [*params, *thresholds.params()],
    )
    if not found:
        return []
    # The keys that qualify: named, when few (the walk's), else as the query above.
    if len(found) <= NAMED_KEYS_MAX:
        keys, named = key_in(key, [r[0] for r in found])
    else:
        keys = f"{key} IN (SELECT {key} FROM {table} c{where} GROUP BY {key} HAVING {having})"
        named = [*params, *thresholds.params()]
    later = db.query(
        "SELECT x.k, x.provider, x.model, x.day, SUM(x.input_tokens) FROM ("
        f"SELECT {key} AS k, c.provider AS provider, {MODEL} AS model, "
        f"c.started_at / {DAY_MS} AS day, c.input_tokens AS input_tokens, "
        f"ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY c.started_at, c.id) AS rn "
        f"FROM {table} c{where} AND {keys}"
        ") x WHERE x.rn > 1 GROUP BY x.k, x.provider, x.model, x.day",
        [*params, *named],
    )
    potential: dict[Any, int] = {}
    for k, provider, model, d, tokens in later:
        saved = savings.saved(provider, model, int(tokens or 0), int(d) * DAY_MS)
        potential[k] = potential.get(k, 0) + saved
    out = []
    for k, calls, *rest in found:
        tokens = [int(v or 0) for v in rest[: len(CACHE_TOKENS)]]
        cost, first, last, project, sessions = rest[len(CACHE_TOKENS) :]
        prompt = sum(tokens)
        item: dict[str, Any] = {"key": k}
        if grouping.kind == "session":  # a session runs in a project; a prefix in sessions
            item["project"] = project
        else:
            item["sessions"] = int(sessions)
        item.update(
            {
                "calls": int(calls),
                "tokens": {**dict(zip(CACHE_TOKENS, tokens, strict=True)), "prompt": prompt},
                "read_share": ratio(tokens[READS], prompt),
                "cost_usd": usd(int(cost)),
                "potential_savings_usd": usd(potential.get(k, 0)),
                "first_at": iso_utc(int(first)),
                "last_at": iso_utc(int(last)),
            }
        )
        out.append(_Row(k, potential.get(k, 0), item))
    return out


# -- the walk ---------------------------------------------------------------------------------

_COLUMNS = "t.{key}, t.first_at, t.last_at, t.mixed, t.heavy, t.calls, t.prompt_tokens, " + (
    "t.cache_read_tokens, t.input_tokens"
)


@dataclass(slots=True)
class _List:
    """Keys of one provider and model (or of mixed ones), the largest uncached input
    first; ``rate``: the most a token of theirs can save (pico-dollars)."""

    sql: str
    params: list[Any]
    rate: int
    # Keys of one model: those mixing models are left to the list of mixed ones. (Not in
    # SQL: PostgreSQL takes ``(mixed & 6) = 0`` for a rare condition and then sorts every
    # key of the model instead of reading the index in order.)
    unmixed: bool = False
    rows: list[Any] = field(default_factory=list)
    after: tuple[int, Any] | None = None
    done: bool = False
    size: int = 0  # rows asked for by the last page

    def head_bound(self) -> int | None:
        return None if not self.rows else int(self.rows[0][8]) * self.rate // 1000


def _walk(
    db: Database,
    scope: Scope,
    savings: SavingsPricer,
    grouping: Grouping,
    thresholds: Thresholds,
    limit: int,
    models: Iterable[tuple[Any, Any]] | None,
) -> list[dict[str, Any]] | None:
    if any(f not in _WALKABLE for f in scope.filters):
        return None
    if rollups.has_pending(db):
        rollups.refresh(db)
    days = _days(db, scope)
    if days is None or not db.query(f"SELECT 1 FROM {grouping.totals} LIMIT 1"):
        return []  # no calls, or none with such a key
    if models is None:
        pairs = sums(db, scope, (dimension("provider"), dimension("model")), ("calls",))
        models = [(value(p), value(m)) for p, m, _ in pairs]
    rates = _rates(models, savings, days)
    lists = _lists(grouping, scope, thresholds, rates)
    _, _, bits = key_conditions(grouping, scope)
    key_sql = f"c.{grouping.column}"
    found: dict[Any, _Row] = {}
    summed = 0
    heap: list[tuple[int, int]] = []  # (-bound of its head, list number)
    _first_pages(db, lists, grouping)
    for i, lst in enumerate(lists):
        if not lst.rows:
            _fill(db, lst, grouping)
        if (bound := lst.head_bound()) is not None:
            heapq.heappush(heap, (-bound, i))
    while heap:
        floor = _floor(found, limit)
        batch: list[tuple[Any, int, bool]] = []  # (key, first call, heavy)
        while heap and len(batch) < BATCH:
            bound, i = -heap[0][0], heap[0][1]
            if floor is not None and bound < floor:
                # No key not yet read can enter the answer. (With a floor of 0 or less,
                # every key is read: those with nothing to save are ranked by key.)
                heap.clear()
                break
            heapq.heappop(heap)
            lst = lists[i]
            row = lst.rows.pop(0)
            if _may_enter(row, lst.rate, floor, thresholds, bits, scope):
                batch.append((row[0], int(row[1]), bool(row[4])))
            if not lst.rows:
                _fill(db, lst, grouping)
            if (head := lst.head_bound()) is not None:
                heapq.heappush(heap, (-head, i))
        summed += len(batch)
        if summed > RAW_KEYS_MAX:
            return None
        for row in _exact(db, scope, savings, grouping, thresholds, batch, key_sql):
            found[row.key] = row
    return _ranked(list(found.values()), limit)


def _floor(found: dict[Any, _Row], limit: int) -> int | None:
    """The potential a key must reach to enter the answer (None: any qualifying key)."""
    if len(found) < limit:
        return None
    return sorted((r.potential for r in found.values()), reverse=True)[limit - 1]


def _may_enter(
    row: Sequence[Any],
    rate: int,
    floor: int | None,
    thresholds: Thresholds,
    bits: int,
    scope: Scope,
) -> bool:
    """Whether a key must be summed from its calls: it may reach the answer, and its stored
    sums do not already rule it out."""
    _key, first, last, mixed, _heavy, calls, prompt, reads, uncached = row
    if floor is not None and int(uncached) * rate // 1000 < floor:
        return False
    if whole_in_scope(int(first), int(last), int(mixed), bits, scope):
        return (
            int(calls) >= thresholds.min_calls
            and int(prompt) >= thresholds.min_prompt_tokens
            and 2 * int(reads) < int(prompt)
        )
    return True


def _exact(
    db: Database,
    scope: Scope,
    savings: SavingsPricer,
    grouping: Grouping,
    thresholds: Thresholds,
    batch: Sequence[tuple[Any, int, bool]],
    key_sql: str,
) -> Iterator[_Row]:
    """The keys' rows from their calls: heavy keys' from their copy, the others' from the
    calls by the key's index or their one instant."""
    where, params = scope.where()
    heavy = [k for k, _, h in batch if h]
    light = [(k, at) for k, at, h in batch if not h]
    if heavy:
        cond, values = key_in(key_sql, heavy)
        yield from _rows(
            db, savings, grouping, grouping.copy, where_and(where, cond), [*params, *values],
            thresholds,
        )  # fmt: skip
    if light:
        cond, values = light_calls(grouping, light)
        yield from _rows(
            db, savings, grouping, "calls", where_and(where, cond), [*params, *values], thresholds
        )


def _days(db: Database, scope: Scope) -> tuple[int, int] | None:
    """The UTC days (first, last, in ms) the scope's calls can fall on."""
    hours = stored_hours(db)
    if hours is None:
        return None
    low, high = hours
    first = low if scope.start_ms is None else max(low, scope.start_ms)
    last = high + 3_599_999 if scope.end_ms is None else min(high + 3_599_999, scope.end_ms - 1)
    return first // DAY_MS * DAY_MS, max(first, last) // DAY_MS * DAY_MS


def _rates(
    models: Iterable[tuple[Any, Any]], savings: SavingsPricer, days: tuple[int, int]
) -> dict[tuple[Any, Any], int]:
    """The most a token of each provider and model in scope can save on any day of the
    range (pico-dollars: what ``savings.saved`` gives for 1,000 tokens)."""
    return {
        (p, m): max(savings.saved(p, m, 1000, day) for day in range(days[0], days[1] + 1, DAY_MS))
        for p, m in models
    }


def _lists(
    grouping: Grouping,
    scope: Scope,
    thresholds: Thresholds,
    rates: dict[tuple[Any, Any], int],
) -> list[_List]:
    parts, params, _ = key_conditions(grouping, scope)
    parts += ["t.calls >= ?", "t.prompt_tokens >= ?"]
    params += thresholds.params()
    select = f"SELECT {_COLUMNS.format(key=grouping.column)} FROM {grouping.totals} t WHERE "
    out = []
    # Keys of models with nothing to save are read last (bound 0), and only while fewer
    # than ``limit`` keys have something to save.
    for (provider, model), rate in rates.items():
        one = [
            "t.provider IS NULL" if provider is None else "t.provider = ?",
            "t.model IS NULL" if model is None else "t.model = ?",
        ]
        values = [v for v in (provider, model) if v is not None]
        out.append(_List(select + " AND ".join(one + parts), values + params, rate, True))
    mixed = f"(t.mixed & {REUSE_MIXED}) <> 0"  # as the partial index says
    dearest = max(rates.values(), default=0)
    out.append(_List(select + " AND ".join([mixed, *parts]), list(params), dearest))
    return out


def _first_pages(db: Database, lists: Sequence[_List], grouping: Grouping) -> None:
    """Every list's first page, in one query (a round trip per list is most of the walk's
    time on PostgreSQL)."""
    if not lists:
        return
    order = f" ORDER BY t.input_tokens DESC, t.{grouping.column} DESC LIMIT ?"
    pages = (
        " UNION ALL ".join(
            f"SELECT * FROM (SELECT {i} AS list, {lst.sql[len('SELECT ') :]}{order}) p{i}"
            for i, lst in enumerate(lists)
        )
        + f" ORDER BY list, input_tokens DESC, {grouping.column} DESC"
    )
    size = min(PAGE, FIRST_PAGE)
    rows = db.query(pages, [v for lst in lists for v in (*lst.params, size)])
    for lst in lists:
        lst.size = size
    by_list: dict[int, list[Any]] = {}
    for i, *row in rows:
        by_list.setdefault(int(i), []).append(row)
    for i, lst in enumerate(lists):
        page = by_list.get(i, [])
        lst.done = len(page) < size
        if page:
            lst.after = (int(page[-1][8]), page[-1][0])
        lst.rows = [r for r in page if not (lst.unmixed and int(r[3]) & REUSE_MIXED)]


def _fill(db: Database, lst: _List, grouping: Grouping) -> None:
    """The next page of a list, in index order (largest uncached input, then key, first)."""
    key = f"t.{grouping.column}"
    lst.rows = []
    while not lst.rows and not lst.done:
        sql, params = lst.sql, list(lst.params)
        if lst.after is not None:
            sql += f" AND (t.input_tokens < ? OR (t.input_tokens = ? AND {key} < ?))"
            params += [lst.after[0], lst.after[0], lst.after[1]]
        lst.size = min(PAGE, 2 * lst.size) if lst.size else min(PAGE, FIRST_PAGE)
        rows = db.query(
            f"{sql} ORDER BY t.input_tokens DESC, {key} DESC LIMIT ?", [*params, lst.size]
        )
        lst.done = len(rows) < lst.size
        if rows:
            lst.after = (int(rows[-1][8]), rows[-1][0])
        lst.rows = [r for r in rows if not (lst.unmixed and int(r[3]) & REUSE_MIXED)]
