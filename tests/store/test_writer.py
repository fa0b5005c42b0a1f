"""The upsert keeps the most complete version; the batch writer never loses a clean stop."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tokenomy.record import CallRecord, CostSource, TokenUsage, ToolUse
from tokenomy.store import BatchWriter, Database, open_database, write_records


def _rec(key: str, output: int, *, rank: int = 0, session: str = "s", **kw: object) -> CallRecord:
    return CallRecord(
        source="claude-code",
        dedupe_key=key,
        started_at_ms=1_750_000_000_000,
        usage=TokenUsage(input_tokens=10, output_tokens=output),
        session_id=session,
        dedupe_rank=rank,
        cost_nanos=output,
        cost_source=CostSource.COMPUTED,
        **kw,  # type: ignore[arg-type]
    )


def _stored(db: Database) -> dict[str, tuple[int, str]]:
    rows = db.query("SELECT dedupe_key, output_tokens, session_id FROM calls")
    return {r[0]: (r[1], r[2]) for r in rows}


def test_upsert_keeps_the_largest_total_and_never_double_counts(db: Database) -> None:
    write_records(db, [_rec("a", 5), _rec("b", 7)])
    write_records(db, [_rec("a", 50), _rec("b", 3)])  # a grew (streaming), b is a partial
    write_records(db, [_rec("a", 50, session="copy")])  # equal: the first stays
    assert _stored(db) == {"a": (50, "s"), "b": (7, "s")}


def test_higher_rank_wins_over_more_tokens(db: Database) -> None:
    write_records(db, [_rec("a", 90, rank=0, session="progress-copy")])
    write_records(db, [_rec("a", 40, rank=2, session="main")])
    write_records(db, [_rec("a", 99, rank=1, session="sidechain")])
    assert _stored(db) == {"a": (40, "main")}


def test_tool_uses_accumulate_across_writes_once_each(db: Database) -> None:
    write_records(db, [_rec("a", 5, tools=[ToolUse("Bash", "t1")])])
    write_records(
        db, [_rec("a", 5, tools=[ToolUse("Bash", "t1"), ToolUse("mcp__github__list", "t2")])]
    )
    rows = sorted(db.query("SELECT use_id, name, mcp_server FROM call_tools"))
    assert [tuple(r) for r in rows] == [("t1", "Bash", None), ("t2", "mcp__github__list", "github")]


def test_a_large_batch_stores_every_value_exactly_whether_shared_or_not(db: Database) -> None:
    # Columns equal across a large batch are written into the SQL, the rest bound: the
    # stored rows must not tell the difference, quotes, NULLs and big numbers included.
    records = [
        _rec(
            f"k{i}",
            i,
            project='it\'s a "project" ?',
            user=None if i % 2 else "u",
            attributes={"note": "50% off; 'quoted'"},
        )
        for i in range(100)
    ]
    records[7].cost_nanos = 2**62
    write_records(db, records)
    rows = db.query(
        'SELECT dedupe_key, project, "user", cost_nanos, attributes, source FROM calls '
        "ORDER BY output_tokens"
    )
    assert len(rows) == 100
    for i, (key, project, user, cost, attributes, source) in enumerate(rows):
        assert (key, project, user, source) == (
            f"k{i}",
            'it\'s a "project" ?',
            None if i % 2 else "u",
            "claude-code",
        )
        assert cost == (2**62 if i == 7 else i)
        assert attributes == '{"note":"50% off; \'quoted\'"}'


def test_a_batch_large_enough_for_copy_keeps_the_best_version_of_each_call(db: Database) -> None:
    # On PostgreSQL a batch this large goes through COPY and one upsert: versions of a call
    # in the same batch must resolve exactly as they do one by one.
    write_records(db, [_rec("stored", 50, session="old")])
    batch = [_rec(f"k{i}", i % 7, session=f"s{i}") for i in range(1500)]
    batch += [
        _rec("k3", 900, session="grown"),  # a later, larger version wins
        _rec("k4", 1, session="partial"),  # a smaller one does not
        _rec("k5", 5, session="tie"),  # a full tie keeps the first
        _rec("stored", 60, session="new"),  # beats the stored row
    ]
    write_records(db, batch)
    stored = _stored(db)
    assert len(stored) == 1501
    assert stored["k3"] == (900, "grown")
    assert stored["k4"] == (4, "s4")
    assert stored["k5"] == (5, "s5")
    assert stored["stored"] == (60, "new")
    assert stored["k1499"] == (1499 % 7, "s1499")


def test_a_large_batch_of_identical_calls_stores_one(db: Database) -> None:
    write_records(db, [_rec("same", 5) for _ in range(50)])
    assert _stored(db) == {"same": (5, "s")}


def test_batch_writer_flushes_everything_on_close(db: Database) -> None:
    with BatchWriter(db, batch_size=100, flush_interval=10) as writer:
        writer.put_many(_rec(f"k{i}", i) for i in range(1234))
    assert writer.stats.written == 1234
    assert len(_stored(db)) == 1234


def test_batch_writer_flushes_on_interval_without_close(sqlite_db: Database) -> None:
    writer = BatchWriter(sqlite_db, batch_size=10_000, flush_interval=0.05)
    try:
        writer.put(_rec("x", 1))
        deadline = time.monotonic() + 5
        while not _stored(sqlite_db) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _stored(sqlite_db) == {"x": (1, "s")}
    finally:
        writer.close()


def test_put_after_close_is_refused(sqlite_db: Database) -> None:
    writer = BatchWriter(sqlite_db)
    writer.close()
    with pytest.raises(RuntimeError, match="closed"):
        writer.put(_rec("x", 1))


CRASH_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from tokenomy.record import CallRecord, TokenUsage
    from tokenomy.store import BatchWriter, open_database
    db = open_database(sys.argv[1])
    writer = BatchWriter(db, flush_interval=float(sys.argv[2]))
    i = 0
    while True:
        now = int(time.time() * 1000)
        writer.put(CallRecord(source="gateway", dedupe_key=str(i), started_at_ms=now,
                              usage=TokenUsage(input_tokens=1)))
        print(i, time.time(), flush=True)
        i += 1
        time.sleep(0.002)
    """
)


def test_crash_loses_at_most_one_flush_interval(tmp_path: Path) -> None:
    """kill -9 mid-stream: every record put more than one interval before the kill is kept."""
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    open_database(url).close()
    interval = 0.2
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASH_SCRIPT, url, str(interval)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    puts: list[tuple[int, float]] = []
    # Timed from the first record, not from the start: a loaded machine may take a while
    # to start the interpreter.
    first = proc.stdout.readline().split()
    puts.append((int(first[0]), float(first[1])))
    start = time.time()
    while time.time() - start < 1.5:
        line = proc.stdout.readline()
        i, t = line.split()
        puts.append((int(i), float(t)))
    proc.send_signal(signal.SIGKILL)
    killed_at = time.time()
    proc.wait()
    proc.stdout.close()
    db = open_database(url)
    kept = {int(r[0]) for r in db.query("SELECT dedupe_key FROM calls")}
    db.close()
    # Allow the batch being written at the kill on top of the interval.
    must_have = [i for i, t in puts if t < killed_at - 2 * interval - 0.1]
    assert must_have, "the writer produced nothing to check"
    missing = [i for i in must_have if i not in kept]
    assert not missing, f"lost {len(missing)} records older than the flush bound"
    assert len(kept) < len(puts) + 5  # and nothing invented


def test_ulids_are_sortable_and_distinct_across_forked_processes() -> None:
    import multiprocessing

    from tokenomy.record import new_ulid

    assert new_ulid(1) < new_ulid(2) < new_ulid(1_700_000_000_000)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        ids = pool.map(new_ulid, [1_700_000_000_000] * 200)
    assert len(set(ids)) == 200


def test_try_transaction_gives_way_to_another_writer_instead_of_waiting(
    sqlite_db: Database,
) -> None:
    other = Database(sqlite_db.url)
    with other.transaction() as cur:
        cur.execute("BEGIN IMMEDIATE")  # another process's write in progress
        with sqlite_db.try_transaction() as maybe:
            assert maybe is None
    with sqlite_db.try_transaction() as free:
        assert free is not None
        write_records(sqlite_db, [_rec("a", 5)], free)
    assert _stored(sqlite_db) == {"a": (5, "s")}
    other.close()


def test_try_transaction_is_a_plain_transaction_on_postgres(postgres_db: Database) -> None:
    with postgres_db.try_transaction() as cur:
        assert cur is not None
        write_records(postgres_db, [_rec("a", 5)], cur)
    assert _stored(postgres_db) == {"a": (5, "s")}


def _calls_in_the_file_alone(tmp_path: Path) -> int:
    """The calls a copy of the database file holds without its WAL."""
    copy = tmp_path / f"copy-{time.monotonic_ns()}.db"
    shutil.copyfile(tmp_path / "test.db", copy)
    with contextlib.closing(sqlite3.connect(copy)) as lite:
        try:
            return int(lite.execute("SELECT COUNT(*) FROM calls").fetchone()[0])
        except sqlite3.OperationalError:  # not even the table yet
            return 0


def test_a_checkpoint_puts_committed_calls_in_the_database_file(
    sqlite_db: Database, tmp_path: Path
) -> None:
    write_records(sqlite_db, [_rec(f"m{i}", i) for i in range(50)])
    assert _calls_in_the_file_alone(tmp_path) == 0  # still in the WAL
    sqlite_db.checkpoint()
    assert _calls_in_the_file_alone(tmp_path) == 50


def test_a_background_checkpoint_lets_queries_run_and_close_waits_for_it(
    sqlite_db: Database, tmp_path: Path
) -> None:
    write_records(sqlite_db, [_rec(f"m{i}", i) for i in range(50)])
    assert _calls_in_the_file_alone(tmp_path) == 0
    # A reader in a transaction keeps closing from being a checkpoint of its own (that
    # needs the database to itself), but not a checkpoint from copying what the reader
    # sees: what reaches the file is the background one's work, done before close returns.
    with contextlib.closing(sqlite3.connect(tmp_path / "test.db")) as reader:
        reader.execute("BEGIN")
        assert reader.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 50
        sqlite_db.checkpoint_in_background()
        sqlite_db.checkpoint_in_background()  # one already running: not a second
        assert len(_stored(sqlite_db)) == 50  # the caller reads meanwhile
        sqlite_db.close()
        assert _calls_in_the_file_alone(tmp_path) == 50
        reader.rollback()


def test_a_background_checkpoint_is_nothing_to_do_on_postgres(postgres_db: Database) -> None:
    write_records(postgres_db, [_rec("m1", 1)])
    postgres_db.checkpoint_in_background()
    assert _stored(postgres_db) == {"m1": (1, "s")}


def test_a_checkpoint_is_nothing_to_do_on_postgres(postgres_db: Database) -> None:
    write_records(postgres_db, [_rec("m1", 1)])
    postgres_db.checkpoint()
    assert _stored(postgres_db) == {"m1": (1, "s")}


def test_a_large_batch_of_tool_uses_stores_each_exactly(db: Database) -> None:
    # Enough tool rows that SQLite writes the columns they share (source, no MCP server)
    # into the statement: every use is still stored once, with its own name and server.
    uses = [ToolUse("Bash", f"t{i}") for i in range(60)] + [ToolUse("mcp__github__list", "m1")]
    write_records(db, [_rec("a", 5, tools=uses[:30]), _rec("b", 5, tools=uses[30:])])
    write_records(db, [_rec("a", 6, tools=uses[:40])])  # a grew: ten more, thirty again
    rows = db.query("SELECT source, dedupe_key, use_id, name, mcp_server FROM call_tools")
    assert len(rows) == 71
    by_use = {(r[1], r[2]): (r[0], r[3], r[4]) for r in rows}
    assert by_use[("a", "t0")] == ("claude-code", "Bash", None)
    assert by_use[("a", "t39")] == ("claude-code", "Bash", None)
    assert by_use[("b", "m1")] == ("claude-code", "mcp__github__list", "github")


def test_a_large_batch_of_one_tool_use_repeated_stores_it_once(db: Database) -> None:
    write_records(db, [_rec("a", 5, tools=[ToolUse("Bash", "t1")] * 40)])
    assert [tuple(r) for r in db.query("SELECT use_id, name FROM call_tools")] == [("t1", "Bash")]
