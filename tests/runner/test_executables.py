"""Finding the agent's CLI: what the runner starts is the file that was checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenomy.runner.executables import ExecutableNotFoundError, find_executable


def test_a_relative_path_is_made_absolute_so_cwd_does_not_change_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = tmp_path / "bin" / "fake_claude"
    agent.parent.mkdir()
    agent.write_text("#!/bin/sh\n")
    agent.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    found = find_executable("claude", "bin/fake_claude", env={"PATH": ""})
    assert found == str(agent)
    assert Path(found).is_absolute()


def test_a_missing_file_names_the_option(tmp_path: Path) -> None:
    with pytest.raises(ExecutableNotFoundError, match="--executable 'nope' is not an executable"):
        find_executable("claude", "nope", env={"PATH": str(tmp_path)})
