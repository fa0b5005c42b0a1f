"""The upsert keeps the most complete version; the batch writer never loses a clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from tokenomy.record import CallRecord, CostSource, TokenUsage, ToolUse
from tokenomy.store import BatchWriter, open_engine, write_records
from tokenomy.store.schema import call_tools, calls


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


def _stored(engine: Engine) -> dict[str, tuple[int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(calls.c.dedupe_key, calls.c.output_tokens, calls.c.session_id))
        return {r[0]: (r[1], r[2]) for r in rows}


def test_upsert_keeps_the_largest_total_and_never_double_counts(engine: Engine) -> None:
    write_records(engine, [_rec("a", 5), _rec("b", 7)])
    write_records(engine, [_rec("a", 50), _rec("b", 3)])  # a grew (streaming), b is a partial
    write_records(engine, [_rec("a", 50, session="copy")])  # equal: the first stays
    assert _stored(engine) == {"a": (50, "s"), "b": (7, "s")}


def test_higher_rank_wins_over_more_tokens(engine: Engine) -> None:
    write_records(engine, [_rec("a", 90, rank=0, session="progress-copy")])
    write_records(engine, [_rec("a", 40, rank=2, session="main")])
    write_records(engine, [_rec("a", 99, rank=1, session="sidechain")])
    assert _stored(engine) == {"a": (40, "main")}


def test_tool_uses_accumulate_across_writes_once_each(engine: Engine) -> None:
    write_records(engine, [_rec("a", 5, tools=[ToolUse("Bash", "t1")])])
    write_records(
        engine, [_rec("a", 5, tools=[ToolUse("Bash", "t1"), ToolUse("mcp__github__list", "t2")])]
    )
    with engine.connect() as conn:
        rows = sorted(
            conn.execute(select(call_tools.c.use_id, call_tools.c.name, call_tools.c.mcp_server))
        )
    assert [tuple(r) for r in rows] == [("t1", "Bash", None), ("t2", "mcp__github__list", "github")]


def test_batch_writer_flushes_everything_on_close(engine: Engine) -> None:
    with BatchWriter(engine, batch_size=100, flush_interval=10) as writer:
        writer.put_many(_rec(f"k{i}", i) for i in range(1234))
    assert writer.stats.written == 1234
    assert len(_stored(engine)) == 1234


def test_batch_writer_flushes_on_interval_without_close(sqlite_engine: Engine) -> None:
    writer = BatchWriter(sqlite_engine, batch_size=10_000, flush_interval=0.05)
    try:
        writer.put(_rec("x", 1))
        deadline = time.monotonic() + 5
        while not _stored(sqlite_engine) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _stored(sqlite_engine) == {"x": (1, "s")}
    finally:
        writer.close()


def test_put_after_close_is_refused(sqlite_engine: Engine) -> None:
    writer = BatchWriter(sqlite_engine)
    writer.close()
    with pytest.raises(RuntimeError, match="closed"):
        writer.put(_rec("x", 1))


CRASH_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from tokenomy.record import CallRecord, TokenUsage
    from tokenomy.store import BatchWriter, open_engine
    engine = open_engine(sys.argv[1])
    writer = BatchWriter(engine, flush_interval=float(sys.argv[2]))
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
    open_engine(url).dispose()
    interval = 0.2
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASH_SCRIPT, url, str(interval)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    puts: list[tuple[int, float]] = []
    start = time.time()
    while time.time() - start < 1.5:
        line = proc.stdout.readline()
        i, t = line.split()
        puts.append((int(i), float(t)))
    proc.send_signal(signal.SIGKILL)
    killed_at = time.time()
    proc.wait()
    proc.stdout.close()
    engine = open_engine(url)
    with engine.connect() as conn:
        kept = {int(r[0]) for r in conn.execute(select(calls.c.dedupe_key))}
    engine.dispose()
    # Allow the batch being written at the kill on top of the interval.
    must_have = [i for i, t in puts if t < killed_at - 2 * interval - 0.1]
    assert must_have, "the writer produced nothing to check"
    missing = [i for i in must_have if i not in kept]
    assert not missing, f"lost {len(missing)} records older than the flush bound"
    assert len(kept) < len(puts) + 5  # and nothing invented
