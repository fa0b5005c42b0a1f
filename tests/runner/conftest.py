"""Stand-in agent executables in a temporary directory, and the state they share."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class FakeAgents:
    claude: Path
    codex: Path
    log: Path  # start/end events, in order
    calls: Path  # one JSON line per execution: argv and cwd

    def events(self) -> list[str]:
        if not self.log.exists():
            return []
        return [line.split()[0] for line in self.log.read_text().splitlines()]

    def max_overlap(self) -> int:
        running = peak = 0
        for kind in self.events():
            running += 1 if kind == "start" else -1
            peak = max(peak, running)
        return peak


def _wrapper(path: Path, script: str) -> Path:
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{HERE / script}" "$@"\n')
    path.chmod(0o755)
    return path


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeAgents:
    """``claude`` and ``codex`` stand-ins (in a directory of their own), with a fresh state
    directory and logs; the Tokenomy home points into ``tmp_path``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    state = tmp_path / "state"
    state.mkdir()
    agents = FakeAgents(
        claude=_wrapper(bin_dir / "claude", "fake_claude.py"),
        codex=_wrapper(bin_dir / "codex", "fake_codex.py"),
        log=tmp_path / "events.log",
        calls=tmp_path / "calls.jsonl",
    )
    monkeypatch.setenv("FAKE_STATE_DIR", str(state))
    monkeypatch.setenv("FAKE_LOG", str(agents.log))
    monkeypatch.setenv("FAKE_CALLS", str(agents.calls))
    monkeypatch.setenv("TOKENOMY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TOKENOMY_DB", raising=False)
    monkeypatch.delenv("TOKENOMY_CLAUDE_BIN", raising=False)
    monkeypatch.delenv("TOKENOMY_CODEX_BIN", raising=False)
    return agents
