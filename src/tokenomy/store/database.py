"""Opening the database: one SQLAlchemy engine for SQLite (WAL) or PostgreSQL (psycopg 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from tokenomy.store.migrations import migrate


class DatabaseError(RuntimeError):
    """The database could not be opened; the message says what to do."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets reports read while an import writes; NORMAL sync is durable at checkpoints
    # and loses at most the last transactions on power loss, never corrupts.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA cache_size=-65536")
    cur.close()


def open_engine(url: str, *, create: bool = True) -> Engine:
    """An engine with the schema migrated to the newest version."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            path = Path(parsed.database)
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            elif not path.exists():
                raise DatabaseError(f"no database at {path}: run `tokenomy import` first")
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
    elif parsed.get_backend_name() == "postgresql":
        try:
            engine = create_engine(url, pool_pre_ping=True)
        except ModuleNotFoundError as exc:  # psycopg is the optional `postgres` extra
            raise DatabaseError(
                "PostgreSQL needs the driver: pip install 'tokenomy[postgres]'"
            ) from exc
    else:
        raise DatabaseError(
            f"unsupported database URL {url!r}: use a SQLite file path or postgresql://..."
        )
    try:
        with engine.begin() as conn:
            migrate(conn)
    except Exception as exc:
        engine.dispose()
        raise DatabaseError(f"cannot open database {parsed!r}: {exc}") from exc
    return engine
