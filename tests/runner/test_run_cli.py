"""`tokenomy run` end to end against the stand-in agents, through its own argparse parser."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.runner.conftest import FakeAgents
from tests.runner.fake_claude import HAIKU, MODEL_USAGE, RESULT_TEXT, SONNET

from tokenomy.cli.context import UsageError
from tokenomy.cli.run_cmd import add_run_parser
from tokenomy.config import Paths
from tokenomy.store import open_database


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return orjson.loads(self.stdout)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tokenomy")
    add_run_parser(parser.add_subparsers())
    return parser


@pytest.fixture
def tokenomy(capsys: pytest.CaptureFixture[str]) -> Callable[..., Outcome]:
    """``tokenomy run ...`` in-process, with main.py's handling of usage errors."""

    def invoke(*argv: str) -> Outcome:
        capsys.readouterr()
        args = build_parser().parse_args(["run", *argv])
        try:
            code = args.func(args)
        except UsageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            code = 2
        out, err = capsys.readouterr()
        return Outcome(code, out, err)

    return invoke


def stored_calls() -> list[dict[str, Any]]:
    db = open_database(Paths.from_env().database_url)
    try:
        rows = db.query(
            "SELECT status, error_type, request_model, total_tokens, attributes, project "
            "FROM calls ORDER BY started_at, id"
        )
    finally:
        db.close()
    keys = ("status", "error_type", "request_model", "total_tokens", "attributes", "project")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def calls_made(fakes: FakeAgents) -> list[dict[str, Any]]:
    return [json.loads(line) for line in fakes.calls.read_text().splitlines()]


TOTAL_TOKENS = sum(
    m["inputTokens"] + m["outputTokens"] + m["cacheReadInputTokens"] + m["cacheCreationInputTokens"]
    for m in (MODEL_USAGE[SONNET], MODEL_USAGE[HAIKU])
)


def test_one_prompt_prints_the_answer_and_a_summary(
    tokenomy: Callable[..., Outcome], fakes: FakeAgents, tmp_path: Path
) -> None:
    work = tmp_path / "shop"
    work.mkdir()
    result = tokenomy(
        "Add a test",
        "--cwd",
        str(work),
        "--executable",
        str(fakes.claude),
        "--",
        "--model",
        "opus",
        "--max-turns",
        "5",
    )
    assert result.code == 0, result.stderr
    assert RESULT_TEXT in result.stdout
    assert "Add a test" in result.stdout and "1/1 ok" in result.stdout
    [call] = calls_made(fakes)
    tail = ["--model", "opus", "--max-turns", "5", "--", "Add a test"]
    assert call["argv"][-len(tail) :] == tail
    assert call["cwd"] == str(work.resolve())
    [row] = stored_calls()
    assert (row["status"], row["request_model"], row["project"]) == ("ok", "opus", "shop")
    assert row["total_tokens"] == TOTAL_TOKENS


def test_a_batch_runs_every_line_and_fails_if_one_fails(
    tokenomy: Callable[..., Outcome], fakes: FakeAgents, tmp_path: Path
) -> None:
    batch = tmp_path / "commands.txt"
    batch.write_text(
        "# nightly jobs\n\nFix lint errors\n  Update the changelog  \nShip it [max-turns]\n"
    )
    result = tokenomy(
        "--batch", str(batch), "--concurrency", "2", "--json", "--executable", str(fakes.claude)
    )
    assert result.code == 1
    out = result.json()
    assert (out["runs"], out["succeeded"], out["failed"]) == (3, 2, 1)
    prompts = [r["prompt"] for r in out["results"]]
    assert prompts == ["Fix lint errors", "Update the changelog", "Ship it [max-turns]"]
    assert out["results"][2]["error_type"] == "max_turns"
    assert out["results"][0]["tokens"]["total"] == TOTAL_TOKENS
    assert out["results"][0]["result"] == RESULT_TEXT
    rows = stored_calls()
    assert sorted(r["status"] for r in rows) == ["error", "ok", "ok"]
    ids = {i for r in out["results"] for i in r["record_ids"]}
    assert len(ids) == 3


def test_agent_arguments_after_dashes_work_with_a_batch(
    tokenomy: Callable[..., Outcome], fakes: FakeAgents, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("TOKENOMY_CODEX_BIN", str(fakes.codex))
    batch = tmp_path / "jobs.txt"
    batch.write_text("Lint\n")
    result = tokenomy("--batch", str(batch), "--agent", "codex", "--json", "--", "-m", "gpt-5")
    assert result.code == 0, result.stderr
    [call] = calls_made(fakes)
    assert call["argv"] == ["exec", "--json", "-m", "gpt-5", "--", "Lint"]
    assert result.json()["results"][0]["model"] == "gpt-5"


def test_failures_are_listed_with_their_reason(
    tokenomy: Callable[..., Outcome], fakes: FakeAgents
) -> None:
    result = tokenomy("Deploy [crash]", "--executable", str(fakes.claude))
    assert result.code == 1
    assert "exit_status" in result.stdout and "Invalid API key" in result.stdout
    assert "0/1 ok" in result.stdout


def test_the_summary_keeps_every_number_at_80_columns_after_retries(
    tokenomy: Callable[..., Outcome], fakes: FakeAgents, tmp_path: Path, monkeypatch: Any
) -> None:
    """A status saying "(2 tries)" left cost, time, turns and tokens cut to "$0.…" and the
    run numbers out: the numbers keep their width, prompt and status are cut instead."""
    monkeypatch.setenv("COLUMNS", "80")
    batch = tmp_path / "jobs.txt"
    # The usage limit's reset time is long past: the retry starts at once.
    batch.write_text("Refactor the billing module to use the new ledger API [usage-limit]\nOk\n")
    result = tokenomy("--batch", str(batch), "--retries", "1", "--executable", str(fakes.claude))
    assert result.code == 1
    lines = result.stdout.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    assert lines[1].split() == [
        "#",
        "Command",
        "Status",
        "Model",
        "Turns",
        "Tokens",
        "Cost",
        "Time",
    ]
    failed, ok = (line.split() for line in lines[3:5])
    assert failed[0] == "1" and failed[-5:-1] == ["?", "2", "0", "$0.00"], failed
    assert "tries)" in " ".join(failed) and "…" in " ".join(failed)
    assert ok[:2] == ["2", "Ok"] and ok[-3:-1] == ["32.7k", "$0.027"], ok
    assert re.fullmatch(r"\d+\.\ds", failed[-1]) and re.fullmatch(r"\d+\.\ds", ok[-1])


def test_rate_limits_are_retried_from_the_command_line(
    tokenomy: Callable[..., Outcome], fakes: FakeAgents
) -> None:
    # --retries 0: the first 429 is final, so no backoff wait happens in this test.
    result = tokenomy(
        "Go [rate-limit 1]", "--retries", "0", "--json", "--executable", str(fakes.claude)
    )
    assert result.code == 1
    assert result.json()["results"][0]["error_type"] == "rate_limited"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give a prompt, or --batch FILE"),
        (["x", "--batch", "f.txt"], "give a prompt, or --batch FILE"),
        (["x", "--concurrency", "0"], "--concurrency must be at least 1"),
        (["x", "--timeout", "nan"], "--timeout must be a positive number of seconds"),
        (["x", "--timeout", "inf"], "--timeout must be a positive number of seconds"),
        (["x", "--cwd", "/no/such/dir"], "--cwd: no such directory"),
        (["--batch", "/no/such/file"], "--batch: cannot read"),
    ],
)
def test_bad_options_are_usage_errors(
    tokenomy: Callable[..., Outcome], fakes: FakeAgents, argv: list[str], message: str
) -> None:
    result = tokenomy(*argv)
    assert result.code == 2 and message in result.stderr
    assert not fakes.log.exists()


def test_a_missing_agent_says_what_to_install(
    tokenomy: Callable[..., Outcome], fakes: FakeAgents, monkeypatch: Any, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = tokenomy("hello", "--agent", "codex")
    assert result.code == 2
    assert "npm install -g @openai/codex" in result.stderr
    assert "--executable" in result.stderr and "TOKENOMY_CODEX_BIN" in result.stderr
    assert not Paths.from_env().home.exists()  # the store was not even created


def test_an_empty_batch_is_an_error(
    tokenomy: Callable[..., Outcome], fakes: FakeAgents, tmp_path: Path
) -> None:
    batch = tmp_path / "empty.txt"
    batch.write_text("# nothing yet\n\n")
    result = tokenomy("--batch", str(batch), "--executable", str(fakes.claude))
    assert result.code == 2 and "holds no commands" in result.stderr


def test_in_a_separate_process(fakes: FakeAgents, tmp_path: Path) -> None:
    script = (
        "import sys, argparse\n"
        "from tokenomy.cli.run_cmd import add_run_parser\n"
        "p = argparse.ArgumentParser(); add_run_parser(p.add_subparsers())\n"
        "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n"
    )
    argv = ["run", "Say hi", "--json", "--executable", str(fakes.claude), "--", "--verbose"]
    proc = subprocess.run(
        [sys.executable, "-c", script, *argv],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    out = orjson.loads(proc.stdout)
    assert out["results"][0]["status"] == "ok"
    assert calls_made(fakes)[0]["argv"][-3:] == ["--verbose", "--", "Say hi"]
    [row] = stored_calls()
    assert row["project"] == tmp_path.name


def test_sigterm_stops_the_agents_as_ctrl_c_does(fakes: FakeAgents, tmp_path: Path) -> None:
    """A supervisor's SIGTERM killed the runner at once and left its agents running,
    adopted by init, still spending."""
    script = (
        "import sys, argparse\n"
        "from tokenomy.cli.run_cmd import add_run_parser\n"
        "p = argparse.ArgumentParser(); add_run_parser(p.add_subparsers())\n"
        "a = p.parse_args(sys.argv[1:])\n"
        "try:\n    sys.exit(a.func(a))\n"
        "except KeyboardInterrupt:\n    sys.exit(130)\n"
    )
    batch = tmp_path / "batch.txt"
    batch.write_text("A [slow 60]\nB [slow 60]\n")
    argv = ["run", "--batch", str(batch), "--concurrency", "2", "--executable", str(fakes.claude)]
    proc = subprocess.Popen([sys.executable, "-c", script, *argv], cwd=tmp_path)
    deadline = time.monotonic() + 20
    while fakes.events().count("start") < 2:  # both agents are running
        assert time.monotonic() < deadline, "the agents never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 130
    pids = [int(line.split()[1]) for line in fakes.log.read_text().splitlines()]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_the_parser_offers_every_agent_without_importing_the_runner() -> None:
    from tokenomy.cli.run_cmd import AGENT_CHOICES
    from tokenomy.runner import AGENTS

    assert AGENT_CHOICES == AGENTS
    script = (
        "import sys, argparse\n"
        "from tokenomy.cli.run_cmd import add_run_parser\n"
        "add_run_parser(argparse.ArgumentParser().add_subparsers())\n"
        "print('tokenomy.runner' in sys.modules, 'asyncio' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert proc.stdout.split() == ["False", "False"]
