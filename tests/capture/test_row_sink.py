"""A worker's sink of calls: the best version of each wins, and a write the database turned
away costs nothing to try again (run_import.RowSink)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tokenomy.capture.base import FileResult
from tokenomy.capture.run_import import RowSink
from tokenomy.pricing import PriceCatalog
from tokenomy.record import CallRecord, TokenUsage, ToolUse
from tokenomy.store import Database


class CountingCatalog(PriceCatalog):
    calls = 0

    def cost_nanos(
        self,
        provider: str | None,
        model: str | None,
        usage: TokenUsage,
        at_ms: int,
        variant: str | None = None,
        web_searches: int = 0,
    ) -> int | None:
        CountingCatalog.calls += 1
        return super().cost_nanos(provider, model, usage, at_ms, variant, web_searches)


def _rec(key: str, output: int, model: str = "claude-sonnet-4-5") -> CallRecord:
    return CallRecord(
        source="claude-code",
        dedupe_key=key,
        started_at_ms=1_750_000_000_000,
        usage=TokenUsage(input_tokens=1000, output_tokens=output),
        provider="anthropic",
        request_model=model,
        response_model=model,
    )


def _counting_sink(tmp_path: Path) -> RowSink:
    CountingCatalog.calls = 0
    return RowSink(CountingCatalog.load(tmp_path / "prices.toml"))


@contextmanager
def _another_writer(db: Database) -> Iterator[None]:
    """Another worker holding SQLite's write lock for the duration."""
    other = Database(db.url)
    try:
        with other.transaction() as cur:
            cur.execute("BEGIN IMMEDIATE")
            yield
    finally:
        other.close()


def test_a_write_turned_away_is_retried_without_pricing_again(
    sqlite_db: Database, tmp_path: Path
) -> None:
    sink = _counting_sink(tmp_path)
    sink.add(FileResult("a", [_rec("a", 10), _rec("b", 20), _rec("c", 5, "no-such-model")]))
    with _another_writer(sqlite_db):
        assert sink.write(sqlite_db, wait=False) is False
    assert CountingCatalog.calls == 3
    sink.add(FileResult("b", [_rec("a", 50), _rec("b", 1)]))  # a grew; b's copy is partial
    assert sink.write(sqlite_db, wait=False) is True
    assert CountingCatalog.calls == 4  # only a's new version was priced
    rows = sqlite_db.query("SELECT dedupe_key, output_tokens, cost_source FROM calls")
    assert sorted(tuple(r) for r in rows) == [
        ("a", 50, "computed"),
        ("b", 20, "computed"),
        ("c", 5, "unknown"),
    ]
    assert sink.unpriced == {"anthropic/no-such-model"}
    assert len(sink) == 0


def test_retried_writes_keep_the_read_order_and_each_tool_use_once(
    sqlite_db: Database, tmp_path: Path
) -> None:
    sink = _counting_sink(tmp_path)
    first = _rec("a", 10)
    first.tools = [ToolUse("Read", "toolu_1")]
    sink.add(FileResult("f", [first, _rec("b", 20)]))
    with _another_writer(sqlite_db):
        assert sink.write(sqlite_db, wait=False) is False
        copy = _rec("a", 30)  # a grows after the first try, then c comes
        copy.tools = [ToolUse("Read", "toolu_1")]  # the same use, seen again
        sink.add(FileResult("g", [copy, _rec("c", 5)]))
        assert sink.write(sqlite_db, wait=False) is False
    assert CountingCatalog.calls == 4  # a, b; then only a's new version and c
    assert len(sink) == 3 + 1
    assert sink.write(sqlite_db, wait=False) is True
    # Rows go in in the order calls were first read (rowid order), a in its first place.
    rows = sqlite_db.query("SELECT dedupe_key, output_tokens FROM calls ORDER BY rowid")
    assert [tuple(r) for r in rows] == [("a", 30), ("b", 20), ("c", 5)]
    assert sqlite_db.query("SELECT COUNT(*) FROM call_tools")[0][0] == 1
