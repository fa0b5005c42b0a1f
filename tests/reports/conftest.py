"""The CLI run in-process with its own data directory, as tests/cli does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tokenomy.cli.main import main


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


Cli = Callable[[list[str]], Result]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TOKENOMY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TOKENOMY_DB", raising=False)
    # Keep the user's real agent logs out of the tests.
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "no-claude"))
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "no-codex"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    def invoke(args: list[str]) -> Result:
        capsys.readouterr()
        try:
            code = main(args)
        except SystemExit as exc:  # argparse exits on bad arguments
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return invoke
