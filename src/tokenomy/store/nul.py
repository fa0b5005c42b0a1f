"""PostgreSQL refuses text holding NUL (``\\x00``); logs, CSVs and requests can carry one.

Checking every value of every row would cost an import about 5% on PostgreSQL, for a
character that almost never comes: instead a write runs under a savepoint, and only a
batch the driver refuses is written again with each NUL made U+FFFD (the replacement
character: visible, and the rest of the text kept). SQLite stores NUL as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from tokenomy.store.db import Cursor

T = TypeVar("T")
REPLACEMENT = "\ufffd"


def without_nul(text: str) -> str:
    return text.replace("\x00", REPLACEMENT) if "\x00" in text else text


def scrubbed(rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """``rows`` with every NUL in their text values replaced."""
    return [tuple(without_nul(v) if type(v) is str else v for v in row) for row in rows]


def refused_nul(exc: BaseException) -> bool:
    # psycopg's own message (psycopg.DataError), checked by text: psycopg is optional.
    return "cannot contain NUL" in str(exc)


def nul_safe(cur: Cursor, write: Callable[[], T], again: Callable[[], T]) -> T:
    """``write()``; if PostgreSQL refused a NUL, undo it and ``again()`` (which writes the
    same rows scrubbed). A COPY that failed aborts the transaction, hence the savepoint."""
    cur.execute("SAVEPOINT tokenomy_nul")
    try:
        result = write()
    except Exception as exc:
        if not refused_nul(exc):
            raise
        cur.execute("ROLLBACK TO SAVEPOINT tokenomy_nul")
        result = again()
    cur.execute("RELEASE SAVEPOINT tokenomy_nul")
    return result
