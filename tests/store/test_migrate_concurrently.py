"""Workers of `tokenomy serve --workers N`, or replicas on one PostgreSQL, open a new
database at the same moment: each migration is applied once (one worker used to die with
"duplicate column name")."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from tests.conftest import POSTGRES_URL

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
def test_sqlite_workers_opening_a_new_database_together(tmp_path: Path, round_: int) -> None:
    url = f"sqlite:///{tmp_path / f'new-{round_}.db'}"
    assert _open_together(url) == []
    db = Database(url)
    try:
        assert _versions(db) == list(range(1, len(MIGRATIONS) + 1))
    finally:
        db.close()


def test_postgres_replicas_opening_a_new_schema_together() -> None:
    if not POSTGRES_URL:
        pytest.skip("TOKENOMY_TEST_POSTGRES_URL is not set (PostgreSQL tests run in CI)")
    import uuid

    schema = f"m_{uuid.uuid4().hex[:12]}"
    admin = Database(POSTGRES_URL)
    with admin.transaction() as cur:
        cur.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    try:
        assert _open_together(url) == []
        db = Database(url)
        try:
            assert _versions(db) == list(range(1, len(MIGRATIONS) + 1))
        finally:
            db.close()
    finally:
        with admin.transaction() as cur:
            cur.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()
