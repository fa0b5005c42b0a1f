"""Workers of `tokenomy serve --workers N`, or replicas on one PostgreSQL, open a new
database at the same moment: each migration is applied once (one worker used to die with
"duplicate column name")."""

from __future__ import annotations

import threading

import pytest

from tokenomy.store import open_database
from tokenomy.store.db import Database
from tokenomy.store.migrations import MIGRATIONS


def _open_together(url: str, workers: int = 4) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(workers)

    def open_one() -> None:
        start.wait()
        try:
            open_database(url).close()
        except BaseException as exc:  # collected, the test names them
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def _versions(db: Database) -> list[int]:
    return [int(r[0]) for r in db.query("SELECT version FROM schema_migrations ORDER BY 1")]


@pytest.mark.parametrize("round_", range(3))
def test_workers_opening_a_new_database_together(blank_url: str, round_: int) -> None:
    assert _open_together(blank_url) == []
    db = Database(blank_url)
    try:
        assert _versions(db) == list(range(1, len(MIGRATIONS) + 1))
    finally:
        db.close()
