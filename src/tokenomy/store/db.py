"""A thin database handle over the DB-API drivers: sqlite3 (stdlib) and psycopg 3.

One code path for both: SQL is written once with ``?`` placeholders and plain SQL that both
engines accept; :meth:`Database.sql` adapts the placeholders for psycopg. No ORM or query
builder sits in between: the CLI starts in a fraction of the time, and every statement the
store runs is visible in the code.
"""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, cast
from urllib.parse import unquote, urlsplit

Dialect = Literal["sqlite", "postgresql"]


class DatabaseError(RuntimeError):
    """The database could not be opened or used; the message says what to do."""


class Cursor(Protocol):
    rowcount: int

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...
    def executemany(self, sql: str, params: Any, /) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def fetchone(self) -> Any: ...
    def close(self) -> None: ...


class Connection(Protocol):
    def cursor(self) -> Any: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Target:
    dialect: Dialect
    path: Path | None  # SQLite file (None: in memory)
    conninfo: str  # PostgreSQL connection string


def parse_url(url: str) -> Target:
    """``sqlite:///path``, ``sqlite://`` (memory) or ``postgresql[+psycopg]://...``."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "sqlite":
        rest = url.split("://", 1)[1]
        if rest in ("", "/", "/:memory:"):
            return Target("sqlite", None, "")
        return Target("sqlite", Path(unquote(rest[1:] if rest.startswith("/") else rest)), "")
    if scheme.split("+", 1)[0] in ("postgresql", "postgres"):
        # Only the scheme changes: urlsplit().geturl() would drop the empty host of a
        # socket URL (postgresql:///db?host=/var/run/postgresql) and break it.
        return Target("postgresql", None, "postgresql://" + url.split("://", 1)[1])
    raise DatabaseError(
        f"unsupported database URL {redact(url)!r}: use a SQLite file path or postgresql://..."
    )


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


SQLITE_BUSY_TIMEOUT_MS = 30_000  # how long a writer waits for another one to commit


# SQLite's page cache per connection. Large for imports and reports, which touch much of the
# file; a long-running writer that only appends (the gateway) asks for less, or its memory
# would grow with the database until the cache is full.
DEFAULT_CACHE_MB = 64
# WAL size (4 KB pages) an import lets grow before checkpointing: 256 MB.
BULK_CHECKPOINT_PAGES = 65536
WRITER_CACHE_MB = 4
# Copy committed WAL pages back without waiting for readers or writers.
_PASSIVE_CHECKPOINT = "PRAGMA wal_checkpoint(PASSIVE)"


def _set_wal(conn: sqlite3.Connection) -> None:
    """Switch a new database to WAL. The switch needs the database to itself, and SQLite
    answers "locked" at once rather than waiting when another connection holds it (workers
    of one `serve --workers N` opening a new database together): wait and try again."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_connect(path: Path | None, cache_mb: int = DEFAULT_CACHE_MB) -> sqlite3.Connection:
    conn = sqlite3.connect(
        str(path) if path else ":memory:",
        timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
        check_same_thread=False,
        isolation_level="DEFERRED",
    )
    # WAL lets reports read while an import or the gateway writes; NORMAL sync is durable at
    # checkpoints and may lose only the last transactions on power loss, never corrupts.
    _set_wal(conn)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute(f"PRAGMA cache_size=-{int(cache_mb) * 1024}")
    return conn


def broken(conn: Connection) -> bool:
    """Whether a PostgreSQL connection is closed or lost (psycopg's own flags; an SQLite
    connection never is)."""
    return bool(getattr(conn, "broken", False) or getattr(conn, "closed", False))


@contextmanager
def _committed(conn: Connection) -> Iterator[Cursor]:
    """A cursor on ``conn`` whose statements commit at the end, or roll back on an error."""
    cur = conn.cursor()
    try:
        yield cur
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        cur.close()


class Database:
    """A database to connect to. :meth:`connect` gives a new connection (one per thread);
    :meth:`transaction` and :meth:`query` share one connection for the calling code."""

    def __init__(self, url: str, *, cache_mb: int = DEFAULT_CACHE_MB) -> None:
        self.url = url
        self.cache_mb = cache_mb
        self.target = parse_url(url)
        self.dialect: Dialect = self.target.dialect
        self._shared: Connection | None = None
        self._lock = threading.Lock()
        self._checkpointer: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"Database({redact(self.url)!r})"

    def sql(self, text: str) -> str:
        """Adapt ``?`` placeholders to the driver (psycopg uses ``%s``)."""
        return text if self.dialect == "sqlite" else text.replace("%", "%%").replace("?", "%s")

    def connect(self) -> Connection:
        if self.dialect == "sqlite":
            return _sqlite_connect(self.target.path, self.cache_mb)
        try:
            import psycopg
        except ModuleNotFoundError as exc:
            raise DatabaseError(
                "PostgreSQL needs the driver: pip install 'tokenomy[postgres]'"
            ) from exc
        try:
            pg: Connection = psycopg.connect(self.target.conninfo)
        except psycopg.OperationalError as exc:
            raise DatabaseError(f"cannot connect to {redact(self.url)}: {exc}") from exc
        return pg

    def _connection(self) -> Connection:
        shared = self._shared
        if shared is not None and broken(shared):
            # PostgreSQL went away (a restart, a network blip): a long-running server
            # connects again, instead of failing every request until it is restarted.
            with contextlib.suppress(Exception):
                shared.close()
            shared = self._shared = None
        if shared is None:
            shared = self._shared = self.connect()
        return shared

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """A cursor whose statements commit together, or roll back on an exception."""
        with self._lock, _committed(self._connection()) as cur:
            yield cur

    @contextmanager
    def try_transaction(self) -> Iterator[Cursor | None]:
        """Like :meth:`transaction`, but None at once instead of waiting when another
        process holds SQLite's write lock, so the caller can do other work meanwhile
        (SQLite's own wait polls with sleeps of up to 100 ms). PostgreSQL locks rows, not
        the database: there it is a plain transaction."""
        if self.dialect != "sqlite":
            with self.transaction() as cur:
                yield cur
            return
        with self._lock:
            conn = self._connection()
            lite = cast(sqlite3.Connection, conn)
            lite.execute("PRAGMA busy_timeout = 0")
            try:
                lite.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                locked = True
            else:
                locked = False
            finally:
                lite.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if locked:
                yield None
                return
            with _committed(conn) as cur:
                yield cur

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Write a large import with fewer WAL checkpoints.

        SQLite copies the WAL back into the database every 1,000 pages by default; during
        an import that rewrites the same index pages again and again (a third of the
        write time on a 500 MB log tree). Up to ``BULK_CHECKPOINT_PAGES`` the WAL just
        grows, and is copied back once, later. PostgreSQL: nothing to do."""
        if self.dialect != "sqlite":
            yield
            return
        lite = cast(sqlite3.Connection, self._connection())
        with self._lock:
            lite.execute(f"PRAGMA wal_autocheckpoint = {BULK_CHECKPOINT_PAGES}")
        try:
            yield
        finally:
            with self._lock:
                lite.execute("PRAGMA wal_autocheckpoint = 1000")

    def checkpoint(self) -> None:
        """Copy the WAL's committed pages back into the database now, without waiting for
        other readers or writers (SQLite's PASSIVE checkpoint; PostgreSQL: nothing). The
        last connection to close does it anyway: an import worker that finishes early does
        it on the core its sibling leaves free, instead of the parent doing it all at exit."""
        if self.dialect != "sqlite":
            return
        lite = cast(sqlite3.Connection, self._connection())
        with self._lock:
            lite.execute(_PASSIVE_CHECKPOINT).fetchall()

    def checkpoint_in_background(self) -> None:
        """Start the same checkpoint on a connection of its own, in a thread, and return at
        once: the caller's next queries run meanwhile, on the other core (sqlite3 lets go
        of the GIL while SQLite works, and readers do not wait for a checkpoint in WAL
        mode). After a parallel import that overlaps the copy of the last writes with the
        report's query, instead of doing one after the other. :meth:`close` waits for it."""
        path = self.target.path
        if self.dialect != "sqlite" or path is None:
            return
        if self._checkpointer is not None and self._checkpointer.is_alive():
            return  # one at a time: it copies whatever is committed when it runs

        def run() -> None:
            # Only a head start: whatever it cannot copy, the last connection to close does.
            with contextlib.suppress(sqlite3.Error):
                conn = _sqlite_connect(path, cache_mb=1)
                try:
                    conn.execute(_PASSIVE_CHECKPOINT).fetchall()
                finally:
                    conn.close()

        self._checkpointer = threading.Thread(target=run, name="tokenomy-checkpoint", daemon=True)
        self._checkpointer.start()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        for attempt in (1, 2):
            try:
                with self.transaction() as cur:
                    cur.execute(self.sql(sql), params)
                    rows: list[Any] = cur.fetchall()
                    return rows
            except Exception:
                # A read on a connection that was lost since its last use: once more, on
                # a new one (a write is not retried: the caller decides).
                if attempt == 2 or self._shared is None or not broken(self._shared):
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.join()
            self._checkpointer = None
        if self._shared is not None:
            self._shared.close()
            self._shared = None


def open_database(url: str, *, create: bool = True, cache_mb: int = DEFAULT_CACHE_MB) -> Database:
    """A database with the schema migrated to the newest version."""
    from tokenomy.store.migrations import migrate

    db = Database(url, cache_mb=cache_mb)
    path = db.target.path
    if path is not None:
        if create:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # a file in the way, or a folder that cannot be made
                raise DatabaseError(
                    f"cannot create the folder {path.parent} for the database: {exc.strerror} "
                    + _WRITABLE_FOLDER
                ) from exc
        elif not path.exists():
            raise DatabaseError(f"no database at {path}: run `tokenomy import` first")
    try:
        migrate(db)
    except DatabaseError:
        db.close()
        raise
    except Exception as exc:
        db.close()
        why = _why_sqlite_cannot_write(path) if path is not None else None
        raise DatabaseError(f"cannot open database {redact(url)}: {exc}{why or ''}") from exc
    return db


# What a user can do when SQLite cannot write where the database is.
_WRITABLE_FOLDER = "(set TOKENOMY_HOME or TOKENOMY_DB to a folder you can write)"


def _why_sqlite_cannot_write(path: Path) -> str | None:
    """Why SQLite could not open ``path`` to write, and what to do, when the disk says so:
    SQLite reports only "unable to open database file" (or "attempt to write a readonly
    database"), which names neither the folder nor the file. The folder is tried first,
    as in WAL mode SQLite creates the -wal and -shm files beside the database. Tried by
    creating a file: permission bits do not tell (root passes them, and a file system such
    as sysfs takes no files whatever they say)."""
    if path.is_dir():
        return f"; {path} is a folder (set TOKENOMY_DB to a database file, not a folder)"
    try:
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        return f"; the folder {path.parent} is not writable: {exc.strerror} {_WRITABLE_FOLDER}"
    if path.exists():
        try:
            with path.open("r+b"):  # opened to write, nothing written
                pass
        except OSError as exc:
            return f"; the database file {path} is not writable: {exc.strerror} {_WRITABLE_FOLDER}"
    return None
