"""The CLI end to end: import, report, prices check, reprice, and its error messages."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from tokenomy.cli.main import app

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TOKENOMY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TOKENOMY_DB", raising=False)
    # Keep the user's real agent logs out of the tests.
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "no-claude"))
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "no-codex"))
    return tmp_path / "home"


@pytest.fixture
def logs(tmp_path: Path, claude_fixture: Path) -> Path:
    root = tmp_path / "projects" / "-home-u-CLEANROOM"
    root.mkdir(parents=True)
    shutil.copy(claude_fixture, root / "session.jsonl")
    return tmp_path / "projects"


def test_report_json_imports_first(home: Path, logs: Path) -> None:
    result = runner.invoke(app, ["report", "daily", "--path", str(logs), "-z", "UTC", "--json"])
    assert result.exit_code == 0, result.output
    out = orjson.loads(result.stdout)
    assert [r["key"] for r in out["rows"]] == ["2026-08-20"]
    assert out["totals"]["calls"] == 2
    assert out["totals"]["cache_write_1h_tokens"] == 9907 + 1914


def test_report_table_fits_80_columns(home: Path, logs: Path) -> None:
    result = runner.invoke(
        app, ["report", "session", "--path", str(logs), "--breakdown"], env={"COLUMNS": "80"}
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any("CLEANROOM" in line for line in lines)
    assert max(len(line.rstrip()) for line in lines) <= 80


def test_import_reports_bad_lines_with_file_and_line(home: Path, logs: Path) -> None:
    f = next(logs.rglob("*.jsonl"))
    with f.open("ab") as fh:
        fh.write(b'{"type":"assistant","message":{"usage":{"input_tokens": 1,\n')
    result = runner.invoke(app, ["import", "claude-code", "--path", str(logs), "--verbose"])
    assert result.exit_code == 0, result.output
    assert f"{f}:12: invalid JSON" in result.stdout.replace("\n", "")
    assert "2 calls stored" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "daily", "-z", "Mars/Olympus"], "is not a known time zone"),
        (["report", "daily", "--since", "yesterday"], "is not a date; use YYYY-MM-DD"),
        (["report", "fortnightly"], "unknown report 'fortnightly'"),
        (["report", "daily", "--since", "20260301", "--until", "20260201"], "is after --until"),
        (["import", "cursor"], "unknown source 'cursor'"),
        (["report", "daily", "--path", "/nonexistent/dir"], "no such directory"),
    ],
)
def test_bad_options_get_a_clear_error(home: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.stderr.replace("\n", " ")
    assert "Traceback" not in result.output


def test_prices_check_and_reprice_after_an_override(home: Path, logs: Path) -> None:
    f = next(logs.rglob("*.jsonl"))
    f.write_bytes(f.read_bytes().replace(b"claude-haiku-4-5-20251001", b"acme-coder-1"))
    assert runner.invoke(app, ["import", "--path", str(logs)]).exit_code == 0
    check = runner.invoke(app, ["prices", "check", "--json"])
    assert orjson.loads(check.stdout)["unpriced"] == [
        {"provider": "anthropic", "model": "acme-coder-1", "calls": 2, "tokens": 67_698}
    ]
    home.mkdir(parents=True, exist_ok=True)
    (home / "prices.toml").write_text(
        '[[model]]\nprovider = "anthropic"\nmatch = "acme-*"\ninput_mtok = 1\noutput_mtok = 1\n'
        "cache_read_mtok = 1\ncache_write_mtok = 1\ncache_write_1h_mtok = 1\n"
    )
    result = runner.invoke(app, ["reprice", "--json"])
    assert orjson.loads(result.stdout) == {"examined": 2, "changed": 2, "unknown": 0}
    report = orjson.loads(runner.invoke(app, ["report", "daily", "--no-import", "--json"]).stdout)
    assert report["totals"]["cost_usd"] == pytest.approx(67_698 / 1e6)
    assert orjson.loads(runner.invoke(app, ["prices", "check", "--json"]).stdout)["unpriced"] == []


def test_a_bad_prices_file_names_the_file_and_key(home: Path) -> None:
    home.mkdir(parents=True)
    (home / "prices.toml").write_text(
        '[[model]]\nprovider = "x"\nmatch = "y"\ninput_mtok = "abc"\n'
    )
    result = runner.invoke(app, ["prices", "check"])
    assert result.exit_code == 2
    err = result.stderr
    assert f"{home / 'prices.toml'}: [[model]] #1 (match 'y'), key 'input_mtok'" in err


def test_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    for command in ("import", "report", "prices", "reprice", "summary"):
        assert command in result.stdout


def test_summary_without_logs_shows_labelled_sample_data_in_its_own_database(home: Path) -> None:
    result = runner.invoke(app, ["summary", "--json"])
    assert result.exit_code == 0, result.output
    out = orjson.loads(result.stdout)
    assert out["sample_data"] is True
    assert out["periods"]["All time"]["calls"] > 0
    assert (home / "sample" / "tokenomy.db").exists()
    # The user's own database holds nothing from the sample.
    mine = orjson.loads(runner.invoke(app, ["report", "daily", "--no-import", "--json"]).stdout)
    assert mine["rows"] == []
    text = runner.invoke(app, ["summary"], env={"COLUMNS": "80"}).stdout
    assert "SAMPLE DATA" in text and "tokenomy report daily" in text


def test_summary_with_logs_uses_them(home: Path, logs: Path) -> None:
    result = runner.invoke(app, ["summary", "--path", str(logs), "--json"])
    assert result.exit_code == 0, result.output
    out = orjson.loads(result.stdout)
    assert out["sample_data"] is False
    assert out["periods"]["All time"]["calls"] == 2
    assert not (home / "sample").exists()
