"""Writing call records: an idempotent upsert, and a bounded background batch writer.

The upsert keeps the most complete version of a record: a higher ``dedupe_rank`` wins, then
a larger token total (streaming partials grow); on a tie the row already stored stays, so a
re-import never double counts and never churns.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

from tokenomy.record import CallRecord, new_ulid, split_mcp_tool
from tokenomy.store.db import Connection, Cursor, Database, broken
from tokenomy.store.nul import nul_safe, scrubbed
from tokenomy.store.project_names import name_projects
from tokenomy.store.rollups import mark_rows
from tokenomy.store.schema import CALL_COLUMNS

log = logging.getLogger("tokenomy.store")

_UPDATED = [c for c in CALL_COLUMNS if c not in ("id", "source", "dedupe_key", "ingested_at")]


def _quote(name: str) -> str:
    return f'"{name}"'


@cache
def _upsert_sql(placeholder: str) -> str:
    return _upsert_sql_with(", ".join([placeholder] * len(CALL_COLUMNS)))


_COLUMNS_SQL = ", ".join(_quote(c) for c in CALL_COLUMNS)
# What an incoming version of a stored call must beat to replace it (see the module doc).
_ON_CONFLICT = (
    "ON CONFLICT (source, dedupe_key) DO UPDATE SET "
    + ", ".join(f"{_quote(c)} = excluded.{_quote(c)}" for c in _UPDATED)
    + " WHERE excluded.dedupe_rank > calls.dedupe_rank "
    "OR (excluded.dedupe_rank = calls.dedupe_rank "
    "AND (excluded.total_tokens > calls.total_tokens "
    "OR (excluded.total_tokens = calls.total_tokens "
    "AND excluded.dedupe_order < calls.dedupe_order)))"
)


def _upsert_sql_with(values: str) -> str:
    return f"INSERT INTO calls ({_COLUMNS_SQL}) VALUES ({values}) {_ON_CONFLICT}"


@cache
def _tools_sql(placeholder: str) -> str:
    return _tools_sql_with(", ".join([placeholder] * 5))


def _tools_sql_with(values: str) -> str:
    return (
        "INSERT INTO call_tools (source, dedupe_key, use_id, name, mcp_server) "
        f"VALUES ({values}) ON CONFLICT DO NOTHING"
    )


@cache
def _content_sql(placeholder: str) -> str:
    values = ", ".join([placeholder] * 4)
    return (
        "INSERT INTO call_content (source, dedupe_key, request, response) "
        f"VALUES ({values}) ON CONFLICT DO NOTHING"
    )


def record_row(rec: CallRecord, now_ms: int) -> tuple[Any, ...]:
    """The record as a row in ``CALL_COLUMNS`` order."""
    u = rec.usage
    return (
        rec.id or new_ulid(rec.started_at_ms),
        str(rec.source),  # a plain str: a batch's one value is written into the statement
        rec.dedupe_key,
        rec.dedupe_rank,
        rec.dedupe_order,
        rec.started_at_ms,
        rec.duration_ms,
        rec.ttft_ms,
        rec.operation,
        rec.provider,
        rec.request_model,
        rec.response_model,
        rec.project,
        rec.user,
        rec.api_key_id,
        rec.org,
        rec.session_id,
        rec.trace_id,
        rec.parent_id,
        u.input_tokens,
        u.cache_read_tokens,
        u.cache_write_tokens,
        u.cache_write_1h_tokens,
        u.output_tokens,
        u.reasoning_tokens,
        u.total,
        rec.cost_nanos,
        str(rec.cost_source),
        str(rec.status),
        rec.error_type,
        rec.http_status,
        rec.finish_reason,
        rec.cache_hit,
        rec.routed_from,
        rec.route_policy,
        rec.variant,
        rec.prompt_hash,
        rec.prefix_hash,
        orjson.dumps(rec.attributes).decode() if rec.attributes else "{}",
        now_ms,
    )


# (source, dedupe_key, use_id, name, mcp_server)
ToolRow = tuple[str, str, str, str, str | None]


def tool_rows(records: Sequence[CallRecord]) -> list[ToolRow]:
    return [
        (r.source, r.dedupe_key, t.use_id, t.name, split_mcp_tool(t.name)[0])
        for r in records
        for t in r.tools
    ]


def write_rows(
    db: Database,
    cur: Cursor,
    rows: Sequence[Sequence[Any]],
    tools: Sequence[ToolRow],
) -> int:
    """Upsert prepared rows (``record_row`` order) and tool uses with an open cursor, and
    mark the hours they fall in for the rollups (in the same transaction). Returns how many
    calls were new or replaced a lesser copy (a row already stored as well is not counted)."""
    if db.dialect == "sqlite" or not (rows or tools):
        return _write_rows(db, cur, rows, tools)
    return nul_safe(
        cur,
        lambda: _write_rows(db, cur, rows, tools),
        lambda: _write_rows(db, cur, scrubbed(rows), scrubbed(tools)),
    )


def _write_rows(
    db: Database,
    cur: Cursor,
    rows: Sequence[Sequence[Any]],
    tools: Sequence[ToolRow],
) -> int:
    written = 0
    if rows and db.dialect == "sqlite":
        sql, varying = _sqlite_upsert(rows)
        cur.executemany(sql, varying)
        written = cur.rowcount
    elif len(rows) >= COPY_MIN_ROWS:
        written = _postgres_copy_upsert(cur, rows)
    elif rows:
        cur.executemany(db.sql(_upsert_sql("?")), rows)
        written = cur.rowcount
    if tools and db.dialect == "sqlite":
        sql, varying_tools = _sqlite_tools_insert(tools)
        cur.executemany(sql, varying_tools)
    elif tools:
        cur.executemany(db.sql(_tools_sql("?")), tools)
    if rows:
        mark_rows(db, cur, [r[STARTED_AT] for r in rows])
    return max(written, 0)


STARTED_AT = CALL_COLUMNS.index("started_at")


# From this many rows PostgreSQL gets them by COPY: one stream instead of a round of
# parameters per row, about twice as fast (bench/csv_import.py).
COPY_MIN_ROWS = 1000


def _postgres_copy_upsert(cur: Cursor, rows: Sequence[Sequence[Any]]) -> int:
    """COPY into a temporary table shaped like ``calls``, then the same upsert from it (in
    key order, so two writers lock rows in the same order), all in the caller's
    transaction."""
    cur.execute(
        "CREATE TEMP TABLE IF NOT EXISTS calls_incoming "
        "(LIKE calls INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    copy_sql = f"COPY calls_incoming ({_COLUMNS_SQL}) FROM STDIN"
    with cur.copy(copy_sql) as copy:  # type: ignore[attr-defined]
        for row in rows:
            copy.write_row(row)
    # One INSERT may not touch a row twice: keep the best version of each call first.
    cur.execute(
        f"INSERT INTO calls ({_COLUMNS_SQL}) SELECT DISTINCT ON (source, dedupe_key) "
        f"{_COLUMNS_SQL} FROM calls_incoming ORDER BY source, dedupe_key, dedupe_rank DESC, "
        "total_tokens DESC, dedupe_order ASC, ctid "  # ctid: as written; on a full tie, first
        + _ON_CONFLICT
    )
    written: int = cur.rowcount
    cur.execute("DELETE FROM calls_incoming")  # a writer may run several batches per commit
    return written


# Values that can be written into SQL text as they are: what SQLite reads back is exactly
# the value bound (no float or bytes; strings without NUL or quotes to get wrong).
_INT64 = range(-(2**63), 2**63)
# Below this many rows a statement of its own costs more to prepare than binding saves.
INLINE_MIN_ROWS = 32


def _literal(value: Any) -> str | None:
    if value is None:
        return "NULL"
    if type(value) is int and value in _INT64:
        return str(value)
    if type(value) is str and "\x00" not in value and "'" not in value and len(value) <= 200:
        return f"'{value}'"
    return None


def _inline_constants(rows: Sequence[Sequence[Any]]) -> tuple[str, list[tuple[Any, ...]]]:
    """The VALUES list of an insert of ``rows`` with every column that holds one value
    across them written into the statement, and the rows cut down to the others.

    Binding is most of SQLite's cost per row in Python (a type check and conversion per
    value), and a batch of imported calls repeats half of its 40 columns (source, provider,
    the NULLs of everything a log does not know). Columns are compared whole, in C: a
    transpose and a count per column.
    """
    n = len(rows)
    width = len(rows[0])
    if n < INLINE_MIN_ROWS:  # not worth a statement of its own
        return ", ".join(["?"] * width), [tuple(r) for r in rows]
    values: list[str] = []
    keep: list[tuple[Any, ...]] = []
    for col in zip(*rows, strict=True):
        first = col[0]
        # Equal by ==: a column of True, 1 and 1.0 is stored alike (integer affinity).
        text = _literal(first) if col.count(first) == n else None
        if text is None:
            values.append("?")
            keep.append(col)
        else:
            values.append(text)
    varying = list(zip(*keep, strict=True)) if keep else [()]  # [()]: all rows the same
    return ", ".join(values), varying


def _sqlite_upsert(rows: Sequence[Sequence[Any]]) -> tuple[str, list[tuple[Any, ...]]]:
    """The upsert of ``rows`` (``CALL_COLUMNS`` order), constants written in (above)."""
    values, varying = _inline_constants(rows)
    return _upsert_sql_with(values), varying


def _sqlite_tools_insert(tools: Sequence[ToolRow]) -> tuple[str, list[tuple[Any, ...]]]:
    """The insert of tool uses, constants (the source; mostly no MCP server) written in."""
    values, varying = _inline_constants(tools)
    return _tools_sql_with(values), varying


def content_rows(records: Sequence[CallRecord]) -> list[tuple[str, str, str | None, str | None]]:
    return [
        (r.source, r.dedupe_key, r.content.request, r.content.response)
        for r in records
        if r.content is not None
    ]


def write_records(db: Database, records: Sequence[CallRecord], cur: Cursor | None = None) -> int:
    """Upsert ``records`` in one transaction (or on ``cur``); return how many were given."""
    if not records:
        return 0
    now = int(time.time() * 1000)
    content = content_rows(records)
    with contextlib.nullcontext(cur) if cur is not None else db.transaction() as use:
        name_projects(db, use, records)
        rows = [record_row(r, now) for r in records]
        write_rows(db, use, rows, tool_rows(records))
        if content:
            write_content(db, use, content)
    return len(rows)


def write_content(db: Database, cur: Cursor, content: Sequence[tuple[Any, ...]]) -> None:
    """Captured prompts and responses (a request may hold a NUL: see store/nul.py)."""
    sql = db.sql(_content_sql("?"))
    if db.dialect == "sqlite":
        cur.executemany(sql, content)
        return
    nul_safe(
        cur, lambda: cur.executemany(sql, content), lambda: cur.executemany(sql, scrubbed(content))
    )


@dataclass(slots=True)
class WriterStats:
    written: int = 0
    batches: int = 0
    errors: int = 0
    last_error: str | None = None


# After the database was found away, wait this long before writing again.
RETRY_SECONDS = 1.0


class BatchWriter:
    """Accepts records without touching the database and writes them in batches.

    ``put`` only appends to an in-memory deque (atomic in CPython, no lock), so the
    caller's hot path never waits on the database. A background thread flushes every
    ``flush_interval`` seconds, or sooner once ``batch_size`` records wait. ``close`` drains
    everything; a crash (kill -9) loses at most what arrived in the last ``flush_interval``
    plus the batch being written. The buffer is bounded: past ``max_queue`` waiting records
    ``put`` waits up to ``put_timeout`` for the writer, then raises ``BufferError``
    (back-pressure instead of unbounded memory).
    """

    def __init__(
        self,
        db: Database,
        *,
        batch_size: int = 5000,
        flush_interval: float = 0.5,
        max_queue: int = 200_000,
        put_timeout: float = 5.0,
    ) -> None:
        self._db = db
        # The writer thread has a connection of its own; it is opened by the thread.
        self._conn: Connection | None = None
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_queue = max_queue
        self._put_timeout = put_timeout
        self._pending: deque[CallRecord] = deque()
        self._wake = threading.Event()
        self._drained = threading.Event()
        self._closed = False
        self.stats = WriterStats()
        self._retry_after = 0.0  # monotonic: no write before this, the database being away
        self._final = False  # closing: the last try, nothing kept after it
        self._outage = False  # records are being kept for a database that is away
        self._thread = threading.Thread(target=self._run, name="tokenomy-writer", daemon=True)
        self._thread.start()

    def put(self, record: CallRecord) -> None:
        if self._closed:
            raise RuntimeError("BatchWriter is closed")
        if len(self._pending) >= self._max_queue:
            self._wait_for_room()
        self._pending.append(record)
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    def put_many(self, records: Iterable[CallRecord]) -> None:
        for record in records:
            self.put(record)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def close(self) -> WriterStats:
        """Flush everything queued and stop the thread."""
        if not self._closed:
            self._closed = True
            self._wake.set()
            self._thread.join()
        return self.stats

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _wait_for_room(self) -> None:
        deadline = time.monotonic() + self._put_timeout
        self._wake.set()
        while len(self._pending) >= self._max_queue:
            if time.monotonic() >= deadline:
                raise BufferError(
                    f"record buffer full ({self._max_queue} waiting): the database is too slow"
                )
            self._drained.wait(0.05)
            self._drained.clear()

    def _run(self) -> None:
        while True:
            self._wake.wait(self._flush_interval)
            self._wake.clear()
            closing = self._closed
            while self._pending and time.monotonic() >= self._retry_after:
                batch = [
                    self._pending.popleft()
                    for _ in range(min(self._batch_size, len(self._pending)))
                ]
                self._flush(batch)
                self._drained.set()
            if closing and self._pending and not self._final:
                # Closing while the database is away: one last try, then what is left is
                # lost (and said so).
                self._final = True
                self._retry_after = 0.0
                continue
            if closing:
                if self._conn is not None:
                    self._conn.close()
                return

    def _flush(self, batch: list[CallRecord]) -> None:
        away = False  # the database cannot be reached (a restart, the network): try later
        try:
            if self._conn is None:
                away = True  # until the connection is made
                self._conn = self._db.connect()
                away = False
            cur = self._conn.cursor()
            try:
                write_records(self._db, batch, cur)
                self._conn.commit()
            except BaseException:
                self._conn.rollback()
                raise
            finally:
                cur.close()
            self.stats.written += len(batch)
            self.stats.batches += 1
            if self._outage:
                self._outage = False
                log.warning("database reachable again: the call records kept are written")
        except Exception as exc:  # keep serving; the error is counted and reported
            self.stats.errors += 1
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            if self._conn is not None and broken(self._conn):
                with contextlib.suppress(Exception):
                    self._conn.close()
                self._conn = None  # connect again next time
                away = True
            if away and not self._final and len(self._pending) + len(batch) <= self._max_queue:
                # Kept for the next try, in front, so the calls stay in order.
                self._pending.extendleft(reversed(batch))
                self._retry_after = time.monotonic() + RETRY_SECONDS
                if not self._outage:  # said once an outage, not every second of it
                    self._outage = True
                    log.warning(
                        "database unreachable: call records are kept in memory (up to %d) "
                        "and written when it answers: %s",
                        self._max_queue,
                        exc,
                    )
                return
            log.error("%d call records could not be written and are lost: %s", len(batch), exc)
