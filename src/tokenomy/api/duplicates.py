"""Prompts sent more than once (``/cache``): what an exact response cache would have saved.

For each prompt (``prompt_hash``) with more than one call in scope: its calls, repeats,
the repeats our response cache answered, and the cost of the others (every call after the
prompt's first in scope that the cache did not answer: what caching would have saved);
the totals over all of them, and the ``limit`` prompts whose repeats cost the most.

Every call that can be a repeat is in the copy of repeated prompts' calls (every prompt
sent twice is heavy, store/key_rollups.py), so the answer never reads ``calls``: grouping
that copy is exact for any filter (:func:`grouped`), and ten times smaller than the calls.
Without filters, the rollups of store/dup_rollups.py answer the whole UTC days of a range
(:func:`_from_rollups`): the days' own figures, corrected for the prompts sent on several
days, whose day rows are combined over the range; the partial days at its ends are read
from the copy. The rows shown are summed from their calls, with the evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tokenomy.analytics.rows import iso_utc
from tokenomy.api.params import DOUBLE_COUNTED_SOURCE, Scope
from tokenomy.api.queries import usd
from tokenomy.api.ranked import EVIDENCE, evidence_in_order, key_in, where_and
from tokenomy.api.sums import stored_hours
from tokenomy.store import dup_rollups, rollups
from tokenomy.store.db import Database
from tokenomy.store.dup_rollups import COPY, DAY_MS, day_sums_sql
from tokenomy.store.schema import PROMPT_DAY_SUMS

assert dup_rollups.LEFT_OUT_SOURCE == DOUBLE_COUNTED_SOURCE
assert dup_rollups.EVIDENCE == EVIDENCE
_KEY = "c.prompt_hash"


@dataclass(slots=True)
class Figures:
    """The totals of the answer (``repeat_cost`` in nanos)."""

    prompts: int = 0
    repeats: int = 0
    cache_hits: int = 0
    repeat_cost: int = 0

    def add(self, prompts: int, repeats: int, hits: int, cost: int, sign: int = 1) -> None:
        self.prompts += sign * prompts
        self.repeats += sign * repeats
        self.cache_hits += sign * hits
        self.repeat_cost += sign * cost

    def to_json(self) -> dict[str, Any]:
        return {
            "prompts": self.prompts,
            "repeats": self.repeats,
            "cache_hits": self.cache_hits,
            "repeat_cost_usd": usd(self.repeat_cost),
        }


def duplicate_prompts(
    db: Database, scope: Scope, limit: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The ``limit`` prompts whose repeats cost the most, and the totals over all."""
    if rollups.has_pending(db):
        rollups.refresh(db)  # the copy and the day rollups
    if not scope.filters and limit <= dup_rollups.TOP_PER_DAY:
        answer = _from_rollups(db, scope, limit)
        if answer is not None:
            return answer
    where, params = scope.where()
    rows, figures = grouped(db, where, params, limit)
    return rows, figures.to_json()


def _groups_sql(where: str) -> str:
    """Per prompt with more than one call among the copy's calls ``where`` matches, its
    calls numbered in time order, so that all but the first are repeats."""
    numbered = (
        "SELECT c.prompt_hash AS k, c.cost_nanos AS cost, c.cache_hit AS hit, "
        "c.started_at AS at, c.session_id AS sid, ROW_NUMBER() OVER "
        f"(PARTITION BY c.prompt_hash ORDER BY c.started_at, c.id) AS rn FROM {COPY} c{where}"
    )
    repeat_cost = "COALESCE(SUM(CASE WHEN x.rn > 1 AND x.hit = 'none' THEN x.cost ELSE 0 END), 0)"
    hits = "SUM(CASE WHEN x.hit <> 'none' THEN 1 ELSE 0 END)"
    return (
        f"SELECT x.k AS k, COUNT(*) AS n, {repeat_cost} AS saved, {hits} AS hits, "
        "COALESCE(SUM(x.cost), 0) AS cost, SUM(CASE WHEN x.cost IS NULL THEN 1 ELSE 0 END) "
        "AS unknown, MIN(x.at) AS first, MAX(x.at) AS last, COUNT(DISTINCT x.sid) AS sessions "
        f"FROM ({numbered}) x GROUP BY x.k HAVING COUNT(*) > 1"
    )


def grouped(
    db: Database, where: str, params: list[Any], limit: int
) -> tuple[list[dict[str, Any]], Figures]:
    """The answer from the copy's calls that ``where`` matches (over ``c``): the prompts
    with more than one call there, and the totals over them."""
    where = where_and(where, f"{_KEY} IS NOT NULL")
    figures = Figures()
    n, repeats, saved, cache_hits = db.query(
        "SELECT COUNT(*), COALESCE(SUM(g.n - 1), 0), COALESCE(SUM(g.saved), 0), "
        f"COALESCE(SUM(g.hits), 0) FROM ({_groups_sql(where)}) g",
        params,
    )[0]
    figures.add(int(n), int(repeats), int(cache_hits), int(saved))
    if not n:
        return [], figures
    rows = _grouped_rows(db, where, params, limit)
    evidence = evidence_in_order(db, where, params, _KEY, [i["key"] for _, i in rows], COPY)
    for _, item in rows:
        item["evidence"] = evidence.get(item["key"], [])
    return _ordered(rows), figures


def _grouped_rows(
    db: Database, where: str, params: list[Any], limit: int | None
) -> list[tuple[int, dict[str, Any]]]:
    """(repeat cost, row) of the repeated prompts of the copy's calls ``where`` matches,
    the costliest ``limit`` (None: all), without evidence."""
    rows = db.query(
        "SELECT g.k, g.n, g.saved, g.hits, g.cost, g.unknown, g.first, g.last, g.sessions "
        f"FROM ({_groups_sql(where)}) g ORDER BY g.saved DESC, g.n DESC, g.k"
        + (" LIMIT ?" if limit is not None else ""),
        [*params, *([limit] if limit is not None else [])],
    )
    return [
        (
            int(saved),
            _item(k, _Sums(int(n), int(h), int(cost), int(u), int(first), int(last)), int(saved))
            | {"sessions": int(sessions)},
        )
        for k, n, saved, h, cost, u, first, last, sessions in rows
    ]


@dataclass(slots=True)
class _Sums:
    """A prompt's calls in some part of the range (a partial day, a day); with ``miss`` the
    cost of those our cache did not answer and ``first_miss`` that of the first call if it
    is one of them."""

    n: int
    hits: int
    cost: int
    unknown: int
    first_at: int
    last_at: int
    miss: int = 0
    first_miss: int = 0

    @property
    def repeat_cost(self) -> int:
        return self.miss - self.first_miss

    def then(self, later: _Sums) -> _Sums:
        """These calls and ``later`` ones (all after these)."""
        return _Sums(
            self.n + later.n,
            self.hits + later.hits,
            self.cost + later.cost,
            self.unknown + later.unknown,
            min(self.first_at, later.first_at),
            max(self.last_at, later.last_at),
            self.miss + later.miss,
            self.first_miss,
        )


def _item(key: Any, s: _Sums, saved: int) -> dict[str, Any]:
    return {
        "key": key,
        "calls": s.n,
        "repeats": s.n - 1,
        "cache_hits": s.hits,
        "sessions": 0,
        "cost_usd": usd(s.cost),
        "unknown_cost_calls": s.unknown,
        "repeat_cost_usd": usd(saved),
        "first_at": iso_utc(s.first_at),
        "last_at": iso_utc(s.last_at),
        "evidence": [],
    }


def _order(saved: int, calls: int, key: Any) -> tuple[int, int, str]:
    """Rows by repeat cost, then calls, then key (Python's order on both engines)."""
    return (-saved, -calls, str(key))


def _ordered(rows: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    rows.sort(key=lambda r: _order(r[0], r[1]["calls"], r[1]["key"]))
    return [item for _, item in rows]


# -- from the day rollups ---------------------------------------------------------------------


@dataclass(slots=True)
class _Candidate:
    key: Any
    n: int
    saved: int
    sums: _Sums | None = None  # known sums (wide prompts, partial days)
    # For a wide prompt over whole days only: its distinct sessions there, if they add up
    # over the days (no session sent it on two days), and its evidence from their rows.
    sessions: int | None = None
    from_days: bool = False


@dataclass(slots=True)
class _Parts:
    """Sums per prompt, in time order of the parts of the range they were read from."""

    by_key: dict[Any, list[_Sums]] = field(default_factory=dict)

    def add(self, key: Any, sums: _Sums) -> None:
        self.by_key.setdefault(key, []).append(sums)


def _from_rollups(
    db: Database, scope: Scope, limit: int
) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    span = _span(db, scope)
    if span is None:
        return [], Figures().to_json()
    start, end = span
    first_day, end_day = -(-start // DAY_MS) * DAY_MS, end // DAY_MS * DAY_MS
    where, params = scope.where()
    if first_day >= end_day:
        return None  # no whole day: the copy of at most two days answers
    figures = Figures()
    days = db.query(
        "SELECT day, prompts, repeats, cache_hits, repeat_cost_nanos, listed, complete "
        "FROM rollup_dup_day WHERE day >= ? AND day < ?",
        (first_day, end_day),
    )
    for _day, prompts, repeats, hits, cost, *_list in days:
        figures.add(int(prompts), int(repeats), int(hits), int(cost))
    wide = _Parts()  # read in time order: the first day's part, whole days, the last's
    candidates: dict[Any, _Candidate] = {}
    if start < first_day:
        _edge(db, start, first_day, wide, figures, candidates)
    sessions: dict[Any, int] = {}  # wide prompts' sessions over the days, where exact
    for k, *row in _wide_days(db, first_day, end_day):
        values = [int(v) for v in row]
        n, hits, cost, unknown, miss, prompts, repeats, dup_hits, dup_cost = values[:9]
        day_sessions, crossing, first_miss, first_at, last_at = values[9:]
        wide.add(k, _Sums(n, hits, cost, unknown, first_at, last_at, miss, first_miss))
        # Its share of the days' own figures, counted over the whole range below.
        figures.add(prompts, repeats, dup_hits, dup_cost, sign=-1)
        if not crossing:
            sessions[k] = day_sessions
    if end_day < end:
        _edge(db, end_day, end, wide, figures, candidates)
    whole_days = start == first_day and end == end_day
    for k, parts in wide.by_key.items():
        total = parts[0]
        for later in parts[1:]:
            total = total.then(later)
        if total.n > 1:
            figures.add(1, total.n - 1, total.hits, total.repeat_cost)
            candidates[k] = _Candidate(
                k,
                total.n,
                total.repeat_cost,
                total,
                sessions.get(k) if whole_days else None,
                from_days=whole_days,
            )
    for c in _listed(db, days, first_day, end_day, limit):
        candidates.setdefault(c.key, c)
    chosen = sorted(candidates.values(), key=lambda c: _order(c.saved, c.n, c.key))[:limit]
    return _details(db, where, params, chosen, (first_day, end_day)), figures.to_json()


# Each wide prompt's sums over whole days [?, ?): the running totals of its last day in
# the range less those of its first day, plus that first day's own sums; and that day's
# first call, the last day's last call.
_FIRST_LAST = (
    "SELECT w.prompt_hash AS k, (SELECT MIN(f.day) FROM rollup_prompt_day f WHERE "
    "f.prompt_hash = w.prompt_hash AND f.day >= ? AND f.day < ?) AS first_day, "
    "(SELECT MAX(e.day) FROM rollup_prompt_day e WHERE e.prompt_hash = w.prompt_hash "
    "AND e.day >= ? AND e.day < ?) AS last_day FROM rollup_prompt_wide w"
)
_WIDE_DAYS = (
    "SELECT r.k, "
    + ", ".join(f"e.cum_{n} - f.cum_{n} + f.{n}" for n in PROMPT_DAY_SUMS)
    + ", f.first_miss_cost_nanos, f.first_at, e.last_at "
    f"FROM ({_FIRST_LAST}) r "
    "JOIN rollup_prompt_day f ON f.prompt_hash = r.k AND f.day = r.first_day "
    "JOIN rollup_prompt_day e ON e.prompt_hash = r.k AND e.day = r.last_day"
)


def _wide_days(db: Database, first_day: int, end_day: int) -> list[Any]:
    """:data:`_WIDE_DAYS` over [first_day, end_day)."""
    with db.transaction() as cur:
        if db.dialect == "postgresql":
            # Two lookups by key per wide prompt; PostgreSQL would rather hash the whole
            # table (50 ms for 300 prompts of 90 days, 13 ms by the index).
            cur.execute("SET LOCAL enable_hashjoin = off")
        cur.execute(db.sql(_WIDE_DAYS), (first_day, end_day) * 2)
        rows: list[Any] = cur.fetchall()
    return rows


def _span(db: Database, scope: Scope) -> tuple[int, int] | None:
    """The scope's range; where it is open, whole UTC days around every stored call."""
    hours = stored_hours(db)
    if hours is None:
        return None
    start = scope.start_ms if scope.start_ms is not None else hours[0] // DAY_MS * DAY_MS
    end = scope.end_ms if scope.end_ms is not None else (hours[1] // DAY_MS + 1) * DAY_MS
    return (start, end) if start < end else None


def _edge(
    db: Database,
    start: int,
    end: int,
    wide: _Parts,
    figures: Figures,
    candidates: dict[Any, _Candidate],
) -> None:
    """A partial day at an end of the range, from the copy: prompts of that day alone
    count here; those sent on several days are combined with their days."""
    sums = day_sums_sql(
        f"c.started_at >= ? AND c.started_at < ? AND c.source <> '{DOUBLE_COUNTED_SOURCE}'"
    )
    rows = db.query(
        "SELECT s.k, s.n, s.hits, s.cost, s.unknown, s.miss, s.first_miss, s.first_at, "
        f"s.last_at, CASE WHEN s.k IN (SELECT w.prompt_hash FROM rollup_prompt_wide w) "
        f"THEN 1 ELSE 0 END FROM ({sums}) s",
        (start, end),
    )
    for k, *values, is_wide in rows:
        n, hits, cost, unknown, miss, first_miss, first_at, last_at = (int(v) for v in values)
        s = _Sums(n, hits, cost, unknown, first_at, last_at, miss, first_miss)
        if is_wide:
            wide.add(k, s)
        elif n > 1:
            figures.add(1, n - 1, hits, s.repeat_cost)
            candidates[k] = _Candidate(k, n, s.repeat_cost, s)


def _listed(
    db: Database, days: Sequence[Any], first_day: int, end_day: int, limit: int
) -> list[_Candidate]:
    """The costliest prompts of single days in [first_day, end_day): from the days' lists,
    or for a day whose list is too short (prompts left it for the wide ones), the copy."""
    short = [int(d) for d, *_, listed, complete in days if not complete and int(listed) < limit]
    out = [
        _Candidate(k, int(n), int(saved))
        for k, n, saved in db.query(
            "SELECT t.prompt_hash, t.calls, t.repeat_cost_nanos FROM rollup_dup_top t "
            "WHERE t.day >= ? AND t.day < ? "
            "ORDER BY t.repeat_cost_nanos DESC, t.calls DESC, t.prompt_hash LIMIT ?",
            (first_day, end_day, limit),
        )
    ]
    for day in short:
        sums = day_sums_sql(
            f"c.started_at >= ? AND c.started_at < ? AND c.source <> '{DOUBLE_COUNTED_SOURCE}'"
        )
        out += [
            _Candidate(k, int(n), int(miss) - int(first_miss))
            for k, n, miss, first_miss in db.query(
                f"SELECT s.k, s.n, s.miss, s.first_miss FROM ({sums}) s WHERE s.n > 1 AND "
                "s.k NOT IN (SELECT w.prompt_hash FROM rollup_prompt_wide w)",
                (day, day + DAY_MS),
            )
        ]
    return out


def _details(
    db: Database,
    where: str,
    params: list[Any],
    chosen: Sequence[_Candidate],
    days: tuple[int, int],
) -> list[dict[str, Any]]:
    """The chosen prompts' rows: where their sums are known (prompts of several days,
    those of a partial day), those with their sessions (counted in the copy unless the
    days give them); the others grouped from the copy; and the evidence (from the days'
    rows for the prompts of several days over whole days, else from the copy)."""
    if not chosen:
        return []
    where = where_and(where, f"{_KEY} IS NOT NULL")
    by_key: dict[Any, tuple[int, dict[str, Any]]] = {}
    known = [c for c in chosen if c.sums is not None]
    sessions = {c.key: c.sessions for c in known if c.sessions is not None}
    uncounted = [c.key for c in known if c.key not in sessions]
    if uncounted:
        cond, values = key_in(_KEY, uncounted)
        sessions.update(
            db.query(
                f"SELECT {_KEY}, COUNT(DISTINCT c.session_id) FROM {COPY} c"
                f"{where_and(where, cond)} GROUP BY {_KEY}",
                [*params, *values],
            )
        )
    for c in known:
        assert c.sums is not None
        item = _item(c.key, c.sums, c.saved) | {"sessions": int(sessions[c.key])}
        by_key[c.key] = (c.saved, item)
    rest = [c.key for c in chosen if c.key not in by_key]
    if rest:
        cond, values = key_in(_KEY, rest)
        for saved, item in _grouped_rows(db, where_and(where, cond), [*params, *values], None):
            by_key[item["key"]] = (saved, item)
    from_days = [c.key for c in chosen if c.from_days]
    evidence = _day_evidence(db, from_days, days)
    others = [k for k in by_key if k not in evidence]
    evidence.update(evidence_in_order(db, where, params, _KEY, others, COPY))
    for k, (_, item) in by_key.items():
        item["evidence"] = evidence.get(k, [])
    return _ordered(list(by_key.values()))


def _day_evidence(db: Database, keys: Sequence[Any], days: tuple[int, int]) -> dict[Any, list[str]]:
    """The most expensive calls of prompts over whole days: the best of their days' own
    (``ranked.EXPENSIVE_FIRST``: unknown costs last, then more tokens, then the id)."""
    if not keys:
        return {}
    cond, values = key_in("t.prompt_hash", keys)
    calls: dict[Any, list[tuple[int, int, str]]] = {}
    for k, call_id, cost, tokens in db.query(
        "SELECT t.prompt_hash, t.id, t.cost_nanos, t.total_tokens FROM rollup_prompt_day_top t "
        f"WHERE {cond} AND t.day >= ? AND t.day < ?",
        [*values, *days],
    ):
        calls.setdefault(k, []).append(
            (-(-1 if cost is None else int(cost)), -int(tokens), call_id)
        )
    return {k: [c[2] for c in sorted(v)[:EVIDENCE]] for k, v in calls.items()}
