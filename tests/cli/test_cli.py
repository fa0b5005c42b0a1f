"""The CLI end to end: import, report, prices check, reprice, and its error messages."""

from __future__ import annotations

import argparse
import csv
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from tokenomy.cli.context import local_zone
from tokenomy.cli.main import main


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    """Run a whole command in-process and capture what it prints."""

    def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        try:
            code = main(args)
        except SystemExit as exc:  # argparse exits on bad arguments
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        for key in env or {}:
            monkeypatch.delenv(key)
        return Result(code, out, err)

    return invoke


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


def test_report_json_imports_first(cli: Any, home: Path, logs: Path) -> None:
    result = cli(["report", "daily", "--path", str(logs), "-z", "UTC", "--json"])
    assert result.exit_code == 0, result.output
    out = orjson.loads(result.stdout)
    assert [r["key"] for r in out["rows"]] == ["2026-08-20"]
    assert out["totals"]["calls"] == 2
    assert out["totals"]["cache_write_1h_tokens"] == 9907 + 1914


def test_report_table_fits_80_columns(cli: Any, home: Path, logs: Path) -> None:
    result = cli(["report", "session", "--path", str(logs), "--breakdown"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any("CLEANROOM" in line for line in lines)
    assert max(len(line.rstrip()) for line in lines) <= 80


def test_import_reports_bad_lines_with_file_and_line(cli: Any, home: Path, logs: Path) -> None:
    f = next(logs.rglob("*.jsonl"))
    with f.open("ab") as fh:
        fh.write(b'{"type":"assistant","message":{"usage":{"input_tokens": 1,\n')
    result = cli(["import", "claude-code", "--path", str(logs), "--verbose"])
    assert result.exit_code == 0, result.output
    assert f"{f}:12: invalid JSON" in result.stdout.replace("\n", "")
    assert "2 calls stored" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "daily", "-z", "Mars/Olympus"], "is not a known time zone"),
        (["report", "daily", "--since", "yesterday"], "is not a date; use YYYY-MM-DD"),
        # strptime alone read these as 2026-01-01 and 2026-11-01: refused, not misread.
        (["report", "daily", "--since", "202611"], "is not a date; use YYYY-MM-DD"),
        (["report", "daily", "--until", "2026111"], "is not a date; use YYYY-MM-DD"),
        (["report", "daily", "--since", "2026-1-5"], "is not a date; use YYYY-MM-DD"),
        (["report", "fortnightly"], "invalid choice: 'fortnightly'"),
        (["report", "daily", "--since", "20260301", "--until", "20260201"], "is after --until"),
        (["import", "cursor"], "invalid choice: 'cursor'"),
        (["report", "daily", "--path", "/nonexistent/dir"], "no such file or directory"),
        (["report", "daily", "-z", "America"], "is not a known time zone"),  # a tzdata folder
        (["report", "daily", "--no-import", "-s", "gemini"], "(did you mean gemini-cli?)"),
        (["advise", "--no-import", "-s", "bogus"], "--source 'bogus' is not one of:"),
        (["report", "--html", ".", "--no-import"], "is a folder; give a file name"),
        (["keys", "create", "--budget", "1e10"], "the budget can be at most $1,000,000,000"),
    ],
)
def test_bad_options_get_a_clear_error(cli: Any, home: Path, args: list[str], message: str) -> None:
    result = cli(args)
    assert result.exit_code == 2
    assert message in result.stderr.replace("\n", " ")
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # Sockets take a port modulo 65536: 83656 served on 18120.
        (["serve", "--port", "83656"], "argument --port: 83656 is not a port number (1-65535)"),
        (["serve", "--port", "0"], "argument --port: 0 is not a port number (1-65535)"),
        (["ui", "--port", "99999"], "argument --port: 99999 is not a port number (1-65535)"),
        (["ui", "--port", "http"], "argument --port: 'http' is not a port number (1-65535)"),
        (["serve", "--workers", "-1"], "argument --workers: -1: must be at least 1"),
        (["serve", "--workers", "0"], "argument --workers: 0: must be at least 1"),
    ],
)
def test_a_port_or_worker_count_out_of_range_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """Parsed only: with the old parser these servers started (and would serve here)."""
    from tokenomy.cli.main import build_parser

    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(args)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_prices_check_and_reprice_after_an_override(cli: Any, home: Path, logs: Path) -> None:
    f = next(logs.rglob("*.jsonl"))
    f.write_bytes(f.read_bytes().replace(b"claude-haiku-4-5-20251001", b"acme-coder-1"))
    assert cli(["import", "--path", str(logs)]).exit_code == 0
    check = cli(["prices", "check", "--json"])
    assert orjson.loads(check.stdout)["unpriced"] == [
        {"provider": "anthropic", "model": "acme-coder-1", "calls": 2, "tokens": 67_698}
    ]
    home.mkdir(parents=True, exist_ok=True)
    (home / "prices.toml").write_text(
        '[[model]]\nprovider = "anthropic"\nmatch = "acme-*"\ninput_mtok = 1\noutput_mtok = 1\n'
        "cache_read_mtok = 1\ncache_write_mtok = 1\ncache_write_1h_mtok = 1\n"
    )
    result = cli(["reprice", "--json"])
    assert orjson.loads(result.stdout) == {"examined": 2, "changed": 2, "unknown": 0}
    report = orjson.loads(cli(["report", "daily", "--no-import", "--json"]).stdout)
    assert report["totals"]["cost_usd"] == pytest.approx(67_698 / 1e6)
    assert orjson.loads(cli(["prices", "check", "--json"]).stdout)["unpriced"] == []


def test_a_row_with_no_known_price_reads_unknown_not_zero(cli: Any, home: Path, logs: Path) -> None:
    f = next(logs.rglob("*.jsonl"))
    f.write_bytes(f.read_bytes().replace(b"claude-haiku-4-5-20251001", b"acme-coder-1"))
    assert cli(["import", "--path", str(logs)]).exit_code == 0
    report = orjson.loads(cli(["report", "model", "--no-import", "--json"]).stdout)
    rows = {r["key"]: r for r in report["rows"]}
    unpriced = next(r for k, r in rows.items() if "acme" in k)
    assert (unpriced["cost_usd"], unpriced["unknown_cost_calls"]) == (None, 2)
    assert all(r["cost_usd"] > 0 for k, r in rows.items() if "acme" not in k)
    table = cli(["report", "model", "--no-import"], env={"COLUMNS": "100"}).stdout
    [line] = [ln for ln in table.splitlines() if "acme" in ln]
    assert line.split()[-2] == "?"  # the cost cell; saved stays $0.00


def test_a_bad_prices_file_names_the_file_and_key(cli: Any, home: Path) -> None:
    home.mkdir(parents=True)
    (home / "prices.toml").write_text(
        '[[model]]\nprovider = "x"\nmatch = "y"\ninput_mtok = "abc"\n'
    )
    result = cli(["prices", "check"])
    assert result.exit_code == 2
    err = result.stderr
    assert f"{home / 'prices.toml'}: [[model]] #1 (match 'y'), key 'input_mtok'" in err


def test_help_lists_every_command(cli: Any) -> None:
    result = cli(["--help"])
    for command in ("import", "report", "prices", "reprice", "summary"):
        assert command in result.stdout


def test_summary_without_logs_shows_labelled_sample_data_in_its_own_database(
    cli: Any, home: Path
) -> None:
    result = cli(["summary", "--json"])
    assert result.exit_code == 0, result.output
    out = orjson.loads(result.stdout)
    assert out["sample_data"] is True
    assert out["periods"]["All time"]["calls"] > 0
    assert (home / "sample" / "tokenomy.db").exists()
    # The user's own database holds nothing from the sample.
    mine = orjson.loads(cli(["report", "daily", "--no-import", "--json"]).stdout)
    assert mine["rows"] == []
    text = cli(["summary"], env={"COLUMNS": "80"}).stdout
    assert "SAMPLE DATA" in text and "tokenomy report daily" in text


def test_summary_with_logs_uses_them(cli: Any, home: Path, logs: Path) -> None:
    result = cli(["summary", "--path", str(logs), "--json"])
    assert result.exit_code == 0, result.output
    out = orjson.loads(result.stdout)
    assert out["sample_data"] is False
    assert out["periods"]["All time"]["calls"] == 2
    assert not (home / "sample").exists()


@pytest.mark.parametrize("tz", ["Europe/Berln", "CET-1CEST,M3.5.0,M10.5.0/3"])
def test_a_machine_zone_it_cannot_read_is_named_once_and_utc_used(
    cli: Any, home: Path, tz: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # (Values no other test sets: the warning is said once per process.)
    result = cli(["report", "daily", "--no-import", "--json"], env={"TZ": tz})
    assert result.exit_code == 0
    assert orjson.loads(result.stdout)["timezone"] == "UTC"
    assert result.stderr.count("warning:") == 1
    assert f"TZ={tz!r}" in result.stderr and "days are counted in UTC" in result.stderr
    # Asked again in the same process: not said again.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TZ", tz)
        assert str(local_zone()) == "UTC"
    assert capsys.readouterr().err == ""


def test_summary_periods_end_today(cli: Any, home: Path, tmp_path: Path) -> None:
    # A call dated next year (a skewed clock, an imported table) is not "today".
    next_year = datetime.now(UTC).year + 1
    table = tmp_path / "future.csv"
    table.write_text(
        "started_at,provider,request_model,input_tokens\n"
        f"{next_year}-03-15T10:00:00Z,openai,gpt-4o,1000\n"
        f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ},openai,gpt-4o,10\n"
    )
    assert cli(["import", "csv", str(table)]).exit_code == 0
    out = orjson.loads(cli(["summary", "--json"], env={"TZ": "UTC"}).stdout)
    calls = {label: period["calls"] for label, period in out["periods"].items()}
    assert calls == {"Today": 1, "This week": 1, "This month": 1, "All time": 2}


TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "traces"


def test_import_csv_with_a_map_then_report_by_project(cli: Any, home: Path) -> None:
    azure = str(TRACES / "azure_llm_2023_conv_head20.csv")
    mapping = "started_at=TIMESTAMP,input_tokens=ContextTokens,output_tokens=GeneratedTokens"
    args = ["import", "csv", azure, "--map", mapping, "--set", "provider=openai"]
    result = cli([*args, "--set", "request_model=gpt-4o,project=azure", "--json"])
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.stdout)
    assert (summary["rows"], summary["stored"], summary["problems"]) == (20, 20, [])
    report = cli(["report", "project", "--no-import", "-z", "UTC", "--json"])
    rows = orjson.loads(report.stdout)["rows"]
    assert [(r["key"], r["calls"], r["input_tokens"]) for r in rows] == [("azure", 20, 11540)]

    table = cli(["import", "csv", azure, "--map", mapping])  # same rows again: none added
    assert "20 rows read, 0 calls stored, 0 rows skipped" in table.stdout
    assert "20 rows were stored before" in table.stdout
    again = cli(["report", "project", "--no-import", "-z", "UTC", "--json"])
    assert orjson.loads(again.stdout)["rows"][0]["calls"] == 20


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["import", "csv"], "name the file, e.g. tokenomy import csv calls.csv"),
        (["import", "csv", "nowhere.csv"], "no such file: nowhere.csv"),
        (["import", "csv", "{azure}", "--map", "tokens=x"], "--map: unknown field tokens"),
        (["import", "csv", "{azure}", "--map", "input_tokens"], "--map: expected FIELD=COLUMN"),
        (["import", "csv", "{azure}"], "no started_at column"),
        (["import", "claude-code", "x.csv"], "takes no FILE"),
        # Table options given to an agent-log import, and --path to a table import, were
        # ignored (exit 0).
        (
            ["import", "claude-code", "--set", "project=renamed", "--map", "started_at=ts"],
            "import claude-code takes no --map, --set (only `import csv FILE` does)",
        ),
        (
            ["import", "--time-origin", "2026-11-01T00:00:00Z", "--format", "csv"],
            "import all takes no --time-origin, --format",
        ),
        (["import", "codex", "--table-timezone", "Europe/Paris"], "takes no --table-timezone"),
        (
            ["import", "csv", "{azure}", "--path", "/nonexistent"],
            "import csv takes no --path (the table is FILE: import csv FILE)",
        ),
    ],
)
def test_import_csv_usage_errors_say_what_to_do(
    cli: Any, home: Path, args: list[str], message: str
) -> None:
    azure = str(TRACES / "azure_llm_2023_conv_head20.csv")
    result = cli([a.replace("{azure}", azure) for a in args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_path_may_name_one_log_file(cli: Any, home: Path, logs: Path, tmp_path: Path) -> None:
    one = next(logs.rglob("*.jsonl"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "not-this.jsonl").write_bytes(one.read_bytes().replace(b"msg_", b"msgX"))
    result = cli(["report", "session", "--json", "--path", str(one)])
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["totals"]["calls"] == 2  # that file, and only it
    both = cli(["report", "session", "--json", "--path", str(elsewhere / "not-this.jsonl")])
    assert orjson.loads(both.stdout)["totals"]["calls"] == 4  # the second file added its own


def test_import_path_credits_each_file_to_the_agent_that_wrote_it(
    cli: Any, home: Path, tmp_path: Path
) -> None:
    """Every source counted (and read) every file given with --path: Codex rollouts named
    session-*.jsonl were also Claude Code's (every .jsonl) and Gemini CLI's (session-*)."""
    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    codex = tmp_path / "codex"
    shutil.copytree(fixtures / "codex", codex, ignore=shutil.ignore_patterns("*.md"))
    alone = cli(["import", "--path", str(codex), "--json"])
    assert alone.exit_code == 0, alone.output
    counts = {
        name: (s["files_seen"], s["files_read"], s["records"] > 0)
        for name, s in orjson.loads(alone.stdout)["sources"].items()
    }
    assert counts == {"claude-code": (0, 0, False), "codex": (2, 2, True), "gemini": (0, 0, False)}
    sizes = sum(f.stat().st_size for f in codex.iterdir())
    bytes_read = [s["bytes_read"] for s in orjson.loads(alone.stdout)["sources"].values()]
    assert bytes_read == [0, sizes, 0]
    # All three agents' logs in one folder, each named like another's: each its own.
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(fixtures / "codex" / "session-basic.jsonl", mixed / "session-a.jsonl")
    shutil.copy(fixtures / "claude-code" / "session-basic.jsonl", mixed / "session-b.jsonl")
    gemini = next((fixtures / "gemini").glob("*.jsonl"))
    shutil.copy(gemini, mixed / "session-c.jsonl")
    text = cli(["import", "--path", str(mixed)]).stdout
    said = " ".join(text.split())
    for name in ("claude-code", "codex", "gemini"):
        assert f"{name}: 1 files, 1 read" in said, said
    again = cli(["import", "--path", str(codex)]).stdout
    assert "claude-code: no logs found" in again and "gemini: no logs found" in again


def test_control_characters_in_names_are_shown_as_escapes(
    cli: Any, home: Path, tmp_path: Path
) -> None:
    """Names from logs and CSV files reached the terminal as they were: an ESC recoloured
    it or set its title, a newline broke a row, U+202E showed abc\u202egnp.exe as
    abcexe.png. Tables and messages show escapes; JSON keeps the real names."""
    hostile = {
        "project": ["\x1b[31mRED\x1b[0m", "two\nlines", "abc\u202egnp.exe"],
        "model": "evil\x1b]0;title\x07model",
    }
    table = tmp_path / "hostile.csv"
    with table.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["started_at", "provider", "request_model", "project", "input_tokens"])
        for n, project in enumerate(hostile["project"]):
            model = hostile["model"] if n == 0 else "claude-sonnet-4-5"
            out.writerow([f"2026-11-20T10:0{n}:00Z", "anthropic", model, project, 10 + n])
    imported = cli(["import", "csv", str(table)], env={"COLUMNS": "80"})
    assert imported.exit_code == 0, imported.output
    assert "No price for anthropic/evil\\x1b]0;title\\x07model:" in imported.stdout
    shown = [imported.stdout]
    page = ["report", "model", "--html", str(tmp_path / "r.html")]
    for args in (["report", "project"], ["report", "model"], ["prices", "check"], page):
        result = cli([*args, "--no-import", "-z", "UTC"] if args[0] == "report" else args)
        assert result.exit_code == 0, result.output
        shown.append(result.stdout)
    text = "\n".join(shown)
    for raw in ("\x1b", "\x07", "\u202e"):
        assert raw not in text
    for escaped in ("\\x1b[31mRED\\x1b[0m", "two\\nlines", "abc\\u202egnp.exe"):
        assert escaped in shown[1]
    assert "evil\\x1b]0;title\\x07model" in shown[3]
    assert "Top models: " in shown[4] and "evil\\x1b]0;title\\x07model" in shown[4]
    assert not any(line.startswith("lines") for line in text.splitlines())
    as_json = cli(["report", "project", "--no-import", "-z", "UTC", "--json"])
    keys = {row["key"] for row in orjson.loads(as_json.stdout)["rows"]}
    assert keys == set(hostile["project"])


def test_report_session_tells_apart_ids_that_differ_at_the_end(
    cli: Any, home: Path, tmp_path: Path
) -> None:
    """Only the first 8 characters of an id were shown, even at 200 columns."""
    sessions = tmp_path / "sessions.csv"
    head = "started_at,provider,request_model,project,session_id,input_tokens\n"
    row = "2026-11-20T10:0{n}:00Z,anthropic,claude-sonnet-4-5,webapp-frontend,nightly-run-00{n},9\n"
    sessions.write_text(head + row.format(n=1) + row.format(n=2))
    assert cli(["import", "csv", str(sessions)]).exit_code == 0
    report = ["report", "session", "--no-import", "-z", "UTC"]
    wide = cli(report, env={"COLUMNS": "200"}).stdout.splitlines()
    for n in (1, 2):
        assert any(line.startswith(f" nightly-run-00{n} webapp-frontend  ") for line in wide)
    narrow = cli(report, env={"COLUMNS": "80"}).stdout.splitlines()
    keys = [line.split("  ")[0].strip() for line in narrow if line.startswith(" nig")]
    assert len(keys) == 2 and keys[0] != keys[1], keys


def test_prices_show_tells_what_a_model_is_billed_at(cli: Any, home: Path) -> None:
    result = cli(["prices", "show", "claude-sonnet-4-5-20250929", "--json"])
    assert result.exit_code == 0
    shown = orjson.loads(result.stdout)
    assert (shown["provider"], shown["model"], shown["source"]) == (
        "anthropic",
        "claude-sonnet-4-5",
        "genai-prices",
    )
    assert shown["usd_per_mtok"] == {
        "input": 3.0,
        "output": 15.0,
        "cache_read": 0.3,
        "cache_write": 3.75,
        "cache_write_1h": 6.0,
    }
    assert shown["usd_per_web_search"] == 0.01
    assert shown["long_context"]["above_prompt_tokens"] == 200_000
    assert shown["long_context"]["usd_per_mtok"]["input"] == 6.0
    fast = orjson.loads(
        cli(["prices", "show", "claude-opus-4-8", "--variant", "speed=fast", "--json"]).stdout
    )
    assert fast["usd_per_mtok"]["output"] == 50.0
    old = orjson.loads(
        cli(["prices", "show", "deepseek-chat", "--at", "2025-10-01", "--json"]).stdout
    )
    assert (old["usd_per_mtok"]["input"], old["source"]) == (0.28, "tokenomy")
    table = cli(["prices", "show", "claude-sonnet-4-5"], env={"COLUMNS": "80"}).stdout
    assert "Above 200,000 prompt tokens" in table and "$22.50" in table
    assert "Web searches the provider runs: $10.00 per 1,000." in table
    missing = cli(["prices", "show", "acme-coder-1"])
    assert missing.exit_code == 1 and "no price for 'acme-coder-1'" in missing.stdout
    assert cli(["prices", "show", "x", "--at", "2025-1-1"]).exit_code == 2


def test_a_log_directory_variable_naming_no_directory_is_reported(
    cli: Any, home: Path, tmp_path: Path
) -> None:
    missing = str(tmp_path / "no-such-dir")
    imported = cli(["import", "claude-code"], env={"CLAUDE_CONFIG_DIR": missing})
    assert imported.exit_code == 0
    assert f"CLAUDE_CONFIG_DIR={missing}: no such directory" in " ".join(imported.stdout.split())
    report = cli(["report"], env={"CODEX_HOME": missing})
    assert f"CODEX_HOME={missing}: no such directory" in " ".join(report.stderr.split())


def test_skipped_lines_are_summed_by_kind_and_report_points_to_import_verbose(
    cli: Any, home: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "cc" / "projects" / "-home-me-app"
    folder.mkdir(parents=True)
    line = (
        '{"type":"assistant","timestamp":"2026-11-20T10:0%d:00Z","sessionId":"s1",'
        '"requestId":"r%d","message":{"id":"m%d","model":"claude-sonnet-4-5",'
        '"usage":{"input_tokens":"2%d","output_tokens":5}}}'
    )
    (folder / "s1.jsonl").write_text("".join(line % (i, i, i, i) + "\n" for i in range(5)))
    result = cli(["report", "--path", str(tmp_path / "cc")])
    said = " ".join(result.stderr.split())
    assert "5 lines skipped (5 usage.input_tokens is …, expected a non-negative integer)" in said
    assert "Run `tokenomy import --verbose` to list every one." in said


SECTIONS = "(expected: models, fallbacks, router, cache, budgets, reports, alerts)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alert:\n  rules: []\n", f"alert: unknown key {SECTIONS}; did you mean alerts?"),
        ("report:\n  - {name: weekly, every: weekly, to: {folder: out}}\n",
         f"report: unknown key {SECTIONS}; did you mean reports?"),
        ("budget:\n  rules: [{name: a, limit_usd: 10}]\n",
         f"budget: unknown key {SECTIONS}; did you mean budgets?"),
    ],
)  # fmt: skip
@pytest.mark.parametrize(
    "command", [["alerts", "run"], ["reports", "run", "--no-import"], ["reports", "list"],
                ["budgets", "status"], ["serve"]]
)  # fmt: skip
def test_a_misspelt_section_is_refused_by_every_command(
    cli: Any, home: Path, tmp_path: Path, command: list[str], text: str, expected: str
) -> None:
    """Commands run from cron would otherwise exit 0 forever and never alert or report."""
    config = tmp_path / "typo.yaml"
    config.write_text(text)
    result = cli([*command, "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert f"error: {config}: {expected}" in " ".join(result.stderr.split())


@pytest.mark.parametrize(
    ("command", "section"),
    [(["alerts", "run"], "an 'alerts'"), (["reports", "list"], "a 'reports'"),
     (["budgets", "status"], "a 'budgets'"), (["serve"], "a 'models'")],
)  # fmt: skip
def test_a_file_that_is_a_list_is_refused(
    cli: Any, home: Path, tmp_path: Path, command: list[str], section: str
) -> None:
    config = tmp_path / "list.yaml"
    config.write_text("- budgets:\n    rules:\n      - {name: a, limit_usd: 10}\n")
    result = cli([*command, "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert f"{config}: (top level): expected a mapping with {section} key" in " ".join(
        result.stderr.split()
    )


@pytest.mark.parametrize(
    ("group", "commands"),
    [("prices", "check"), ("keys", "create, list, revoke"), ("reports", "run, list"),
     ("alerts", "check, run, test")],
)  # fmt: skip
def test_a_group_without_its_command_prints_its_own_usage(
    cli: Any, home: Path, group: str, commands: str
) -> None:
    result = cli([group])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"usage: tokenomy {group} [-h] COMMAND")
    assert f"tokenomy {group}: error: choose a command: {commands}" in result.stderr


WRITABLE_FOLDER = "(set TOKENOMY_HOME or TOKENOMY_DB to a folder you can write)"


@pytest.mark.parametrize("command", [["keys", "list"], ["report", "--no-import"]])
def test_a_database_sqlite_cannot_open_says_why_and_what_to_do(
    cli: Any, home: Path, tmp_path: Path, command: list[str]
) -> None:
    """SQLite says only "unable to open database file": the folder or file is named."""
    folder = tmp_path / "db-folder"
    folder.mkdir()
    result = cli(command, env={"TOKENOMY_DB": str(folder)})
    assert result.exit_code == 2
    said = " ".join(result.stderr.split())
    assert f"unable to open database file; {folder} is a folder (set TOKENOMY_DB to a" in said


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux's sysfs")
def test_a_folder_sqlite_cannot_write_is_named_with_what_to_do(cli: Any, home: Path) -> None:
    # sysfs takes no new files, even from root (a read-only data folder, as in a read-only
    # mount, that the tests can make without root).
    result = cli(["report", "--no-import"], env={"TOKENOMY_DB": "/sys/tokenomy.db"})
    assert result.exit_code == 2
    said = " ".join(result.stderr.split())
    assert "unable to open database file; the folder /sys is not writable: " in said
    assert said.endswith(WRITABLE_FOLDER)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes a folder whatever its mode")
def test_a_read_only_data_folder_is_named_with_what_to_do(cli: Any, home: Path) -> None:
    assert cli(["keys", "list"]).exit_code == 0  # the database is made
    home.chmod(0o555)
    try:
        result = cli(["report", "--no-import"])
    finally:
        home.chmod(0o755)
    assert result.exit_code == 2
    said = " ".join(result.stderr.split())
    assert f"the folder {home} is not writable: Permission denied {WRITABLE_FOLDER}" in said


def test_version_is_the_installed_packages(cli: Any) -> None:
    from importlib.metadata import version

    result = cli(["--version"])
    assert (result.exit_code, result.stdout) == (0, f"tokenomy {version('tokenomy')}\n")


def _examples(text: str) -> set[str]:
    """The `tokenomy report` commands in ``text``, without comments, lines joined."""
    joined = text.replace("\\\n", " ")
    commands = (line.split("#")[0] for line in joined.splitlines())
    return {" ".join(c.split()) for c in commands if c.strip().startswith("tokenomy report ")}


def test_report_help_lists_every_source_and_readmes_examples(cli: Any) -> None:
    from tokenomy.record import Source

    result = cli(["report", "--help"])
    assert result.exit_code == 0
    said = " ".join(result.stdout.split())
    assert "only these sources (repeatable, or a,b): " + ", ".join(Source) in said
    root = Path(__file__).resolve().parents[2]
    readme = _examples((root / "README.md").read_text())
    pages = _examples((root / "docs" / "reports.md").read_text())
    shown = _examples(result.stdout.partition("examples:")[2])
    assert len(readme) >= 5 and readme <= shown  # README's examples, all of them
    assert shown <= readme | pages  # and none that the docs do not give


def test_serve_offers_no_json_option_it_would_ignore(cli: Any) -> None:
    assert "--json" not in cli(["serve", "--help"]).stdout
    refused = cli(["serve", "--json"])
    assert refused.exit_code == 2 and "unrecognized arguments: --json" in refused.stderr


@pytest.mark.parametrize("command", ["serve", "summary", "reprice"])
def test_help_examples_are_commands_that_parse(command: str) -> None:
    import shlex

    from tokenomy.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[
        command
    ]
    assert sub.epilog and sub.epilog.startswith("examples:")
    examples = [ln.split("#")[0].strip() for ln in sub.epilog.splitlines()[1:]]
    runs = [shlex.split(e) for e in examples if e.startswith("tokenomy ")]
    assert runs
    for words in runs:
        if words[1] == command:
            parser.parse_args(words[1:])  # exits (fails the test) on a bad option
