"""Finding the agent's CLI: an explicit path, else ``TOKENOMY_<AGENT>_BIN``, else PATH."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from tokenomy.runner.command import Agent

_DEFAULT_NAMES: dict[Agent, str] = {"claude": "claude", "codex": "codex"}
_INSTALL: dict[Agent, str] = {
    "claude": "npm install -g @anthropic-ai/claude-code",
    "codex": "npm install -g @openai/codex",
}


class ExecutableNotFoundError(LookupError):
    """The agent's CLI is not installed or not where we were told; says how to fix it."""


def env_var(agent: Agent) -> str:
    return f"TOKENOMY_{agent.upper()}_BIN"


def find_executable(
    agent: Agent, explicit: str | None = None, env: Mapping[str, str] | None = None
) -> str:
    """The path of the agent's executable. An explicit value and the environment variable
    may be a name looked up on PATH or a path to an executable file."""
    env = os.environ if env is None else env
    variable = env_var(agent)
    for value, origin in ((explicit, "--executable"), (env.get(variable), variable)):
        if value:
            found = shutil.which(value, path=env.get("PATH"))
            if found is None:
                raise ExecutableNotFoundError(
                    f"{origin} {value!r} is not an executable file (nor a program on PATH)"
                )
            # Absolute: the agent is started in --cwd, where a relative path means another
            # file (or none) than the one just checked here. Not resolved: a symlink's name
            # may matter to the program it points to.
            return found if Path(found).is_absolute() else str(Path.cwd() / found)
    found = shutil.which(_DEFAULT_NAMES[agent], path=env.get("PATH"))
    if found is None:
        raise ExecutableNotFoundError(
            f"{_DEFAULT_NAMES[agent]!r} is not on PATH: install it ({_INSTALL[agent]}), "
            f"or give its location with --executable PATH or {variable}"
        )
    return found
