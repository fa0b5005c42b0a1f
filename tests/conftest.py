"""Shared fixtures: a fresh database per test on SQLite and, where configured, PostgreSQL."""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tokenomy.store import Database, open_database

POSTGRES_URL = os.environ.get("TOKENOMY_TEST_POSTGRES_URL", "")
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def _close_sdk_clients() -> Iterator[None]:
    """SDK clients the gateway tests' helpers opened are closed with their test. Then a
    collection: a socket some test left open is reported (filterwarnings=error) by that
    test, not by whichever test the garbage collector happens to run in later."""
    yield
    from tests.gateway.running import close_clients

    close_clients()
    gc.collect()


@pytest.fixture(autouse=True)
def _own_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the user's own ~/.tokenomy: commands that use the default
    place get an empty data directory of their own."""
    monkeypatch.setenv("TOKENOMY_HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.delenv("TOKENOMY_DB", raising=False)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    db = open_database(f"sqlite:///{tmp_path / 'test.db'}")
    yield db
    db.close()


@contextmanager
def _fresh_schema_url() -> Iterator[str]:
    """The URL of a new, empty schema in the test PostgreSQL database, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip("TOKENOMY_TEST_POSTGRES_URL is not set (PostgreSQL tests run in CI)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = Database(POSTGRES_URL)
    _run(admin, f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        _run(admin, f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


@pytest.fixture
def postgres_db() -> Iterator[Database]:
    """A fresh schema in the test PostgreSQL database, migrated, dropped afterwards."""
    with _fresh_schema_url() as url:
        db = open_database(url)
        try:
            yield db
        finally:
            db.close()


def _run(db: Database, sql: str) -> None:
    with db.transaction() as cur:
        cur.execute(sql)


@pytest.fixture(params=["sqlite", "postgres"])
def blank_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database with no tables at all (SQLite, and a fresh PostgreSQL schema
    dropped afterwards): for what happens before and during the first migration."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'blank.db'}"
        return
    with _fresh_schema_url() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest) -> Database:
    """The same test on both databases."""
    fixture = "sqlite_db" if request.param == "sqlite" else "postgres_db"
    value: Database = request.getfixturevalue(fixture)
    return value


@pytest.fixture
def claude_fixture() -> Path:
    return FIXTURES / "claude-code" / "session-basic.jsonl"
