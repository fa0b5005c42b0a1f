"""Shared fixtures: a fresh database per test on SQLite and, where configured, PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from tokenomy.store import open_engine

POSTGRES_URL = os.environ.get("TOKENOMY_TEST_POSTGRES_URL", "")
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _pg_url(base: str) -> str:
    return "postgresql+psycopg://" + base.split("://", 1)[1]


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_engine(f"sqlite:///{tmp_path / 'test.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_engine() -> Iterator[Engine]:
    if not POSTGRES_URL:
        pytest.skip("TOKENOMY_TEST_POSTGRES_URL is not set (PostgreSQL tests run in CI)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_pg_url(POSTGRES_URL))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _pg_url(POSTGRES_URL)
    sep = "&" if "?" in url else "?"
    engine = open_engine(f"{url}{sep}options=-csearch_path%3D{schema}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """The same test on both databases."""
    fixture = "sqlite_engine" if request.param == "sqlite" else "postgres_engine"
    value: Engine = request.getfixturevalue(fixture)
    return value


@pytest.fixture
def claude_fixture() -> Path:
    return FIXTURES / "claude-code" / "session-basic.jsonl"
