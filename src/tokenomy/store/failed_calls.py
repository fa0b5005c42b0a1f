"""A copy of the failed calls, for ``GET /api/v1/failures`` (api/failures.py).

Failures are grouped by error type, provider and model, and each group shows its HTTP
statuses, sessions, a count per local time bucket and its latest calls; the answer takes
every filter. A rollup keyed by all of that (hour, error type, provider, model, HTTP
status, and the nine dimensions a filter can name) has about one row per failed call: at
10M calls, 2% of them failing, a week holds 11,000 such rows for 14,500 failures. So the
failed calls are kept themselves, with only the columns that answer reads, clustered by
time: a week of them is one contiguous read of narrow rows instead of 930,000 calls, and
the answer is the same SQL over the same rows. Each (error type, provider, model) is
numbered (``rollup_failure_groups``): SQLite groups a week of failures by one integer in
a third of the time it takes by three texts. Refreshed with the hours the writer marks
(store/rollups.py), like every rollup.
"""

from __future__ import annotations

from typing import Any

from tokenomy.store.db import Cursor, Database
from tokenomy.store.schema import FAILED_CALL_COLUMNS

TABLE = "rollup_failed_calls"
GROUPS = "rollup_failure_groups"
# A failed call, as api/failures.py counts one, and its group's columns over ``calls c``.
FAILED = "c.status <> 'ok'"
GROUP_SQL = ("c.error_type", "c.provider", "COALESCE(c.response_model, c.request_model)")
_COPIED = [c for c in FAILED_CALL_COLUMNS if c != "failure_group"]
_COLUMNS = ", ".join(f'"{c}"' for c in _COPIED)
_FROM_CALLS = ", ".join(f'c."{c}"' for c in _COPIED)

Group = tuple[Any, Any, Any]


def groups(db: Database) -> dict[int, Group]:
    """Every numbered group: number -> (error type, provider, model)."""
    rows = db.query(f"SELECT failure_group, error_type, provider, model FROM {GROUPS}")
    return {int(r[0]): (r[1], r[2], r[3]) for r in rows}


def recompute_hours(db: Database, cur: Cursor, start: int, end: int) -> None:
    """Copy the failed calls of [start, end) again (the hours a refresh recomputes),
    numbering the groups not seen before."""
    cur.execute(
        db.sql(f"DELETE FROM {TABLE} WHERE started_at >= ? AND started_at < ?"), (start, end)
    )
    in_hours = f"FROM calls c WHERE c.started_at >= ? AND c.started_at < ? AND {FAILED}"
    cur.execute(db.sql(f"SELECT DISTINCT {', '.join(GROUP_SQL)} {in_hours}"), (start, end))
    present: list[Group] = [(r[0], r[1], r[2]) for r in cur.fetchall()]
    if not present:
        return
    cur.execute(f"SELECT failure_group, error_type, provider, model FROM {GROUPS}")
    number = {(r[1], r[2], r[3]): int(r[0]) for r in cur.fetchall()}
    new = [g for g in present if g not in number]
    for g in new:
        number[g] = len(number) + 1
    cur.executemany(
        db.sql(
            f"INSERT INTO {GROUPS} (failure_group, error_type, provider, model) VALUES (?, ?, ?, ?)"
        ),
        [(number[g], *g) for g in new],
    )
    # Each call's group number, by a CASE over the groups of these hours.
    whens: list[str] = []
    params: list[Any] = []
    for g in present:
        cond, values = match(g)
        whens.append(f"WHEN {cond} THEN {number[g]}")
        params += values
    cur.execute(
        db.sql(
            f"INSERT INTO {TABLE} (failure_group, {_COLUMNS}) SELECT CASE {' '.join(whens)} "
            f"END, {_FROM_CALLS} {in_hours} "
            # In key order: PostgreSQL keeps rows where they were inserted.
            "ORDER BY c.started_at, c.id"
        ),
        (*params, start, end),
    )


def match(group: Group) -> tuple[str, list[Any]]:
    """A condition on ``calls c`` matching a group's calls (None matches NULL)."""
    terms: list[str] = []
    values: list[Any] = []
    for column, value in zip(GROUP_SQL, group, strict=True):
        if value is None:
            terms.append(f"{column} IS NULL")
        else:
            terms.append(f"{column} = ?")
            values.append(value)
    return "(" + " AND ".join(terms) + ")", values


def clear(cur: Cursor) -> None:
    cur.execute(f"DELETE FROM {TABLE}")
    cur.execute(f"DELETE FROM {GROUPS}")
