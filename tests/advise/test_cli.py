"""`tokenomy advise cache` in-process: JSON for scripts, the table, the empty state, its
help and its errors."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from tests.advise.records import advice_calls

from tokenomy.cli.main import main
from tokenomy.config import Paths
from tokenomy.store import open_database, write_records

ONE_DAY = ["--since", "2026-11-01", "--until", "2026-11-01", "-z", "UTC"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TOKENOMY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TOKENOMY_DB", raising=False)
    # Keep the machine's real agent logs out of the test.
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "no-claude"))
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "no-codex"))
    monkeypatch.setenv("COLUMNS", "80")
    return tmp_path / "home"


@pytest.fixture
def seeded(home: Path) -> Path:
    db = open_database(Paths.from_env().database_url)
    write_records(db, advice_calls())
    db.close()
    return home


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(["advise", "cache", *args])
    except SystemExit as exc:  # argparse's own refusals
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_json_for_scripts(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, *ONE_DAY, "--json")
    assert code == 0
    result = orjson.loads(out)
    assert [(r["key"], r["savings_usd"]) for r in result["rows"]] == [
        ("pfx-tools", 0.081),
        ("sess-chat", 0.0477),
        ("dup-prompt", 0.0048),
    ]
    # --until is an inclusive day, as in `tokenomy report`: one day, 30 times the savings.
    assert result["range"]["days"] == 1.0
    assert result["summary"]["monthly_savings_usd"] == 4.005
    code, out, _ = _run(capsys, *ONE_DAY, "--json", "-p", "web", "--model", "gpt-4o")
    assert [r["key"] for r in orjson.loads(out)["rows"]] == ["dup-prompt"]


def test_the_table_fits_80_columns(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, *ONE_DAY, "--no-import")
    assert code == 0
    assert "Prompt-caching advice" in out
    assert max(len(line.rstrip()) for line in out.splitlines()) <= 80
    first = next(line for line in out.splitlines() if line.strip().startswith("1 "))
    assert "pfx-tools" in first and "$2.43" in first and "1-hour" in first
    assert 'ttl "1h"' in out and "calls: tools-1 tools-2" in out
    assert "$0.134 saved" in out and "$4.00 per 30 days" in out
    assert "3 calls of providers whose cache the advisor does not model yet (google)" in out


def test_empty_state_says_what_to_do(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, *ONE_DAY)
    assert code == 0
    assert "No repeated prompts to advise on" in out
    assert "tokenomy import" in out


def test_help_and_errors(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--help")
    assert code == 0
    assert "1-hour writes" in out and "--since" in out and "examples:" in out
    code, _, err = _run(capsys, "--since", "2026-11-02", "--until", "2026-11-01")
    assert code == 2 and "--since 2026-11-02 is after --until 2026-11-01" in err
    code, _, err = _run(capsys, "--since", "yesterday")
    assert code == 2 and "--since 'yesterday' is not a date" in err
    code, _, err = _run(capsys, "-z", "Mars/Base")
    assert code == 2 and "not a known time zone" in err
    # `advise` alone gives every kind of advice (test_recommend_surfaces); its help names
    # the `cache` command.
    with pytest.raises(SystemExit):
        main(["advise", "--help"])
    assert "advise cache" in capsys.readouterr().out


def test_nothing_to_change(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = open_database(Paths.from_env().database_url)
    write_records(db, [c for c in advice_calls() if c.session_id == "sess-good"])
    db.close()
    code, out, _ = _run(capsys, *ONE_DAY, "--no-import")
    assert code == 0
    assert "Nothing to change: for the 1 prefix (3 calls)" in out
