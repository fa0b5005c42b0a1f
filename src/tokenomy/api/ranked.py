"""What the ranked analytics answers (``top.py``, ``failures.py``, ``cache_report.py``)
share: the SQL fragments and helpers that pick, order and back up their rows.

Each answer is a short list of groups, ranked, with the ids of a few calls behind each
group (its evidence) so a reader can open them and check. The rules are those of
``queries.py``: SQL written once for SQLite and PostgreSQL (``?`` placeholders, integer
sums, window functions both engines have), every list bounded by ``limit``, and Python
only ever reads aggregated groups (at most ``EVIDENCE`` call ids per group), never one row
per call. They group by session, prompt, prefix or error type, which the hourly rollups
do not keep, so they sum the calls themselves (top sessions and prompts first choose which
groups from rollups of their own: threshold.py). Money is summed in integer nano-dollars
and turned into USD at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tokenomy.api.params import DIMENSIONS
from tokenomy.store.db import Database

# Call ids given as evidence per row: enough to open and check, few enough to read.
EVIDENCE = 3
# A call's model in SQL (the response's, else the request's), as breakdowns read it.
MODEL = DIMENSIONS["model"]
# The most expensive first; unknown costs after every known one, then more tokens, then
# the older call (ids are ULIDs, sortable by time): the same order on both engines.
EXPENSIVE_FIRST = "COALESCE(c.cost_nanos, -1) DESC, c.total_tokens DESC, c.id"


def where_and(where: str, condition: str) -> str:
    """``where`` (from :meth:`Scope.where`, maybe empty) with one more condition."""
    return f"{where} AND {condition}" if where else f" WHERE {condition}"


def key_in(key_sql: str, keys: Sequence[Any]) -> tuple[str, list[Any]]:
    """A condition matching any of ``keys`` (None matches NULL: ``IN`` never does)."""
    values = [k for k in keys if k is not None]
    parts = [f"{key_sql} IN ({', '.join('?' * len(values))})"] if values else []
    if len(values) < len(keys):
        parts.append(f"{key_sql} IS NULL")
    return "(" + " OR ".join(parts) + ")", values


def rank(cost_nanos: int, key: Any) -> tuple[int, bool, str]:
    """Sort order of rows: cost descending, then key (null last). Python sorts again after
    SQL so both engines list rows alike whatever their text collation."""
    return (-cost_nanos, key is None, "" if key is None else str(key))


def evidence_in_order(
    db: Database, where: str, params: list[Any], key: str, keys: Sequence[Any], table: str
) -> dict[Any, list[str]]:
    """``evidence_by_key`` for groups with many calls, from a table with an index in
    ``EXPENSIVE_FIRST`` order per key (the copies of heavy groups' calls): each key's calls
    are read in that order until ``EVIDENCE`` of them match, not all sorted."""
    if not keys:
        return {}
    one = (
        f"SELECT * FROM (SELECT {key} AS k, c.id AS id FROM {table} c"
        f"{where_and(where, f'{key} = ?')} ORDER BY {EXPENSIVE_FIRST} LIMIT {EVIDENCE}) x"
    )
    rows = db.query(" UNION ALL ".join([one] * len(keys)), [v for k in keys for v in (*params, k)])
    out: dict[Any, list[str]] = {}
    for k, call_id in rows:
        out.setdefault(k, []).append(call_id)
    return out


def evidence_by_key(
    db: Database,
    where: str,
    params: list[Any],
    key: str,
    keys: Sequence[Any],
    table: str = "calls",
) -> dict[Any, list[str]]:
    """The ids of the ``EVIDENCE`` most expensive calls of each key (read from ``table``:
    the calls, or a copy of some of them with the same columns)."""
    cond, values = key_in(key, keys)
    rows = db.query(
        f"SELECT x.k, x.id FROM (SELECT {key} AS k, c.id AS id, ROW_NUMBER() OVER "
        f"(PARTITION BY {key} ORDER BY {EXPENSIVE_FIRST}) AS rn "
        f"FROM {table} c{where_and(where, cond)}) x WHERE x.rn <= {EVIDENCE} ORDER BY x.rn",
        [*params, *values],
    )
    out: dict[Any, list[str]] = {}
    for k, call_id in rows:
        out.setdefault(k, []).append(call_id)
    return out
