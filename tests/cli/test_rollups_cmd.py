"""`tokenomy rollups`: status counts the per-session and per-prompt rollups, and rebuild
recomputes them with the hourly and daily ones."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tokenomy.cli.main import main
from tokenomy.record import CallRecord, CostSource, TokenUsage
from tokenomy.store import open_database, write_records
from tokenomy.store.rollups import refresh

T0 = 1_793_491_200_000  # 2026-11-01T00:00:00Z


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, int]:
    capsys.readouterr()
    assert main(args) == 0
    result: dict[str, int] = orjson.loads(capsys.readouterr().out)
    return result


def test_rebuild_recomputes_sessions_and_prompts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'calls.db'}"
    monkeypatch.setenv("TOKENOMY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TOKENOMY_DB", url)
    db = open_database(url)
    write_records(
        db,
        [
            CallRecord(
                "sdk",
                f"k{i}",
                T0 + i * 600_000,
                TokenUsage(input_tokens=10),
                session_id=f"s{i % 3}",
                prompt_hash=f"p{i % 2}",
                cost_nanos=100 + i,
                cost_source=CostSource.COMPUTED,
            )
            for i in range(12)
        ],
    )
    refresh(db)
    with db.transaction() as cur:  # rollups emptied behind the store's back
        for table in ("rollup_session", "rollup_prompt_hour", "rollup_prompt"):
            cur.execute(f"DELETE FROM {table}")
    db.close()
    status = _run(["rollups", "status", "--json"], capsys)
    assert (status["sessions"], status["prompts"], status["pending_hours"]) == (0, 0, 0)
    assert _run(["rollups", "rebuild", "--json"], capsys) == {"rebuilt_hours": 2}
    status = _run(["rollups", "status", "--json"], capsys)
    assert (status["sessions"], status["prompts"], status["pending_hours"]) == (3, 2, 0)
    db = open_database(url)
    assert db.query("SELECT prompt_hash, calls, cost_nanos FROM rollup_prompt ORDER BY 1") == [
        ("p0", 6, sum(100 + i for i in range(0, 12, 2))),
        ("p1", 6, sum(100 + i for i in range(1, 12, 2))),
    ]
    db.close()
