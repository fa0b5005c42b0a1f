"""Grouping calls into rollup rows outside SQLite's write lock, for a refresh that runs
beside an import (store/background_refresh.py).

SQLite has one writer. A refresh's ``INSERT ... SELECT`` groups an hour's calls while it
holds the write lock, and the grouping is most of a refresh's time: run beside an import,
it would stop the import's writes for as long as it takes. Staged, the same SELECTs fill
temporary tables instead (they belong to the connection, not the database file) under a
read snapshot, which in WAL mode runs beside the writer, on the other core; the refresh's
write transaction then only copies the rows in.

Safe against another refresh of the same hours in between: a refresh removes the marks it
read in the transaction that writes its rows, so if every mark the stage read is still
there when the copy runs, nobody has written those hours since, and every call the stage
did not see has left a mark of its own, for the next refresh. If one is gone, the caller
computes the hours again inside its write transaction (:func:`still_valid`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from tokenomy.store.db import Cursor, Database

Mark = tuple[int, str]  # (hour, mark) of rollup_dirty


@dataclass(frozen=True, slots=True)
class Stage:
    """The marks read before the staged rows were grouped, and the tables staged (each
    into ``temp.stage_<table>``, with the columns of its insert)."""

    marks: tuple[Mark, ...]
    columns: Mapping[str, str]  # table -> its column list, as the insert names them


def staged_name(table: str) -> str:
    return f"temp.stage_{table}"


def stage(
    db: Database, runs: Sequence[tuple[int, int]], inserts: Mapping[str, tuple[str, str]]
) -> Stage:
    """Read the marks of ``runs`` ([start, end) ranges of hours), then group their calls
    with each of ``inserts`` (table -> (its column list, ``SELECT`` taking start and end))
    into the table's stage, in one read transaction."""
    with db.transaction() as cur:
        # Marks first, then the calls: a mark that commits after this read is left for the
        # next refresh, whose read of the calls will see its rows.
        marks = read_marks(db, cur, runs)
        for table, (columns, _select) in inserts.items():
            # Shaped like the table by the table itself: no second list of column types.
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {staged_name(table)} AS "
                f"SELECT {columns} FROM main.{table} WHERE 0"
            )
            cur.execute(f"DELETE FROM {staged_name(table)}")
        for start, end in runs:
            for table, (columns, select) in inserts.items():
                cur.execute(f"INSERT INTO {staged_name(table)} ({columns}) {select}", (start, end))
    return Stage(tuple(marks), {t: c for t, (c, _s) in inserts.items()})


def read_marks(db: Database, cur: Cursor, runs: Iterable[tuple[int, int]]) -> list[Mark]:
    marks: list[Mark] = []
    for start, end in runs:
        cur.execute(
            db.sql("SELECT hour, mark FROM rollup_dirty WHERE hour >= ? AND hour < ?"),
            (start, end),
        )
        marks.extend((int(h), str(m)) for h, m in cur.fetchall())
    return marks


def still_valid(current: Iterable[Mark], staged: Stage) -> bool:
    """Whether no refresh has written the staged hours since they were staged: every
    mark the stage read is still among the ``current`` ones."""
    return set(staged.marks) <= set(current)


def copy_in(cur: Cursor, staged: Stage, table: str) -> None:
    """Insert the staged rows of ``table`` (its rows of the staged hours already deleted)."""
    columns = staged.columns[table]
    cur.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staged_name(table)}")
