"""A long-running server outlives a PostgreSQL restart: the connection lost is opened again,
and the call records written meanwhile are kept and written once the database answers (they
used to be dropped, and the API answered 500, until the process was restarted)."""

from __future__ import annotations

import socket
import time

import pytest
from tests.conftest import POSTGRES_URL

from tokenomy.record import CallRecord, TokenUsage
from tokenomy.store import Database
from tokenomy.store.writer import BatchWriter


def _kill(backend_pid: int) -> None:
    """What a PostgreSQL restart does to a connection: the server ends it."""
    admin = Database(POSTGRES_URL)
    try:
        assert admin.query("SELECT pg_terminate_backend(?)", (backend_pid,)) == [(True,)]
    finally:
        admin.close()


def _call(key: str) -> CallRecord:
    return CallRecord("gateway", key, 1_790_000_000_000, TokenUsage(input_tokens=10))


def test_queries_reconnect_after_the_server_ended_the_connection(postgres_db: Database) -> None:
    [(pid,)] = postgres_db.query("SELECT pg_backend_pid()")
    _kill(pid)
    [(again,)] = postgres_db.query("SELECT pg_backend_pid()")
    assert again != pid


def test_records_written_while_the_connection_was_lost_are_kept(postgres_db: Database) -> None:
    writer = BatchWriter(postgres_db, flush_interval=0.05)
    try:
        writer.put(_call("before"))
        deadline = time.monotonic() + 10
        while writer.stats.written < 1:
            assert time.monotonic() < deadline, writer.stats
            time.sleep(0.02)
        assert writer._conn is not None
        _kill(writer._conn.info.backend_pid)  # type: ignore[attr-defined]
        writer.put_many([_call("during-1"), _call("during-2")])
        while writer.stats.written < 3:
            assert time.monotonic() < deadline, writer.stats
            time.sleep(0.02)
    finally:
        stats = writer.close()
    keys = sorted(r[0] for r in postgres_db.query("SELECT dedupe_key FROM calls"))
    assert keys == ["before", "during-1", "during-2"]
    assert stats.errors == 1  # the one failed try, retried on a new connection


def test_records_wait_while_the_database_cannot_be_reached(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Nothing listens on this port: every connection attempt fails, as during a restart.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    writer = BatchWriter(Database(f"postgresql://postgres@127.0.0.1:{port}/x"), flush_interval=0.05)
    writer.put_many([_call("a"), _call("b")])
    deadline = time.monotonic() + 10
    while writer.stats.errors < 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert writer.pending == 2  # kept, not dropped
    stats = writer.close()  # the last try fails too: now they are lost, and said so
    assert stats.written == 0
    assert "2 call records could not be written and are lost" in caplog.text
