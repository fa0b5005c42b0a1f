"""Test helper: what the store keeps of some import results (through the real upsert)."""

from __future__ import annotations

from pathlib import Path

from tokenomy.capture.base import FileResult
from tokenomy.record import CallRecord, TokenUsage, ToolUse
from tokenomy.store import open_database, write_records


def merge_via_store(tmp_path: Path, results: list[FileResult]) -> list[CallRecord]:
    """Write every result's records (in order) into a fresh SQLite store and read back one
    record per call: key, source, session, usage and tool uses."""
    db = open_database(f"sqlite:///{tmp_path / 'merge.db'}")
    try:
        for result in results:
            write_records(db, result.records)
        tools: dict[str, list[ToolUse]] = {}
        for key, use_id, name in db.query(
            "SELECT dedupe_key, use_id, name FROM call_tools ORDER BY dedupe_key, use_id"
        ):
            tools.setdefault(key, []).append(ToolUse(name, use_id))
        rows = db.query(
            "SELECT source, dedupe_key, started_at, session_id, input_tokens, cache_read_tokens, "
            "cache_write_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens FROM calls"
        )
        return [
            CallRecord(
                source=r[0],
                dedupe_key=r[1],
                started_at_ms=r[2],
                session_id=r[3],
                usage=TokenUsage(*r[4:10]),
                tools=tools.get(r[1], []),
            )
            for r in rows
        ]
    finally:
        db.close()
