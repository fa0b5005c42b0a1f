"""A NUL character in a name, a tool or a prompt: stored (PostgreSQL: as U+FFFD), never a
failed write that loses the other records of its batch."""

from __future__ import annotations

from pathlib import Path

from tokenomy.capture.import_table import import_table
from tokenomy.capture.table_rows import TableSpec
from tokenomy.pricing import PriceCatalog
from tokenomy.record import CallContent, CallRecord, TokenUsage, ToolUse
from tokenomy.store import Database
from tokenomy.store.writer import write_records

CATALOG = PriceCatalog.load()


def _expected(db: Database, text: str) -> str:
    return text if db.dialect == "sqlite" else text.replace("\x00", "\ufffd")


def test_records_with_a_nul_are_written_with_the_rest_of_their_batch(db: Database) -> None:
    usage = TokenUsage(input_tokens=10)
    recs = [CallRecord("gateway", f"k{i}", 1_000 + i, usage, project="web") for i in range(3)]
    recs[1].project = "nul\x00proj"
    recs[1].tools = [ToolUse("Bash\x00x", "t1")]
    recs[2].content = CallContent(request='{"q": "a\x00b"}', response="ok")
    recs[2].project_path = "/home/u/a\x00pp"
    write_records(db, recs)
    projects = sorted(str(p) for (p,) in db.query("SELECT project FROM calls"))
    # A directory's name is made without NUL on both (it keys project_paths).
    assert projects == sorted(["web", _expected(db, "nul\x00proj"), "a\ufffdpp"])
    assert [str(n) for (n,) in db.query("SELECT name FROM call_tools")] == [
        _expected(db, "Bash\x00x")
    ]
    [(request,)] = db.query("SELECT request FROM call_content")
    assert request == _expected(db, '{"q": "a\x00b"}')


def test_a_csv_row_with_a_nul_is_imported_with_the_others(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "calls.csv"
    path.write_bytes(
        b"started_at,provider,request_model,project,input_tokens\n"
        b"2026-11-20T10:00:00Z,anthropic,claude-sonnet-4-5,nul\x00proj,10\n"
        b"2026-11-20T10:01:00Z,anthropic,claude-sonnet-4-5,fine,10\n"
    )
    summary = import_table(db, CATALOG, path, TableSpec())
    assert (summary.stored, summary.problems) == (2, [])
    got = sorted(str(p) for (p,) in db.query("SELECT project FROM calls"))
    assert got == sorted(["fine", _expected(db, "nul\x00proj")])
