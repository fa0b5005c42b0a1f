"""One agent command to run, and the argument list that runs it.

The prompt always goes last, after ``--``, so extra arguments (which may take values, or
several) can never swallow it and a prompt that starts with ``-`` is not read as an option.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Agent = Literal["claude", "codex"]
AGENTS: tuple[Agent, ...] = ("claude", "codex")

# Who bills each agent's calls: the provider name the price catalog knows.
PROVIDERS: dict[Agent, str] = {"claude": "anthropic", "codex": "openai"}


@dataclass(frozen=True, slots=True)
class Command:
    """A prompt for an agent, where to run it, and extra arguments for the agent's CLI."""

    prompt: str
    agent: Agent = "claude"
    cwd: Path | None = None
    extra_args: tuple[str, ...] = field(default=())
    project: str | None = None

    @property
    def provider(self) -> str:
        return PROVIDERS[self.agent]

    @property
    def requested_model(self) -> str | None:
        """The model named in the extra arguments, if any."""
        return model_from_args(self.extra_args)

    def project_name(self) -> str:
        """The given project, else the working directory's name, as agent-log imports do."""
        if self.project:
            return self.project
        return (self.cwd or Path.cwd()).resolve().name

    def project_path(self) -> str | None:
        """The directory the project is named after; None when it was given by name."""
        return None if self.project else str((self.cwd or Path.cwd()).resolve())

    def argv(self, executable: str) -> list[str]:
        """The full argument list: non-interactive, machine-readable output."""
        if self.agent == "claude":
            return [
                executable,
                "-p",
                "--output-format",
                "json",
                *self.extra_args,
                "--",
                self.prompt,
            ]
        return [executable, "exec", "--json", *self.extra_args, "--", self.prompt]


def model_from_args(args: Sequence[str]) -> str | None:
    """The model from ``-m X``, ``--model X``, ``--model=X`` or ``-c model=X`` (Codex's config
    override); the last one wins, as it does for both CLIs."""
    model: str | None = None
    it = iter(enumerate(args))
    for i, arg in it:
        nxt = args[i + 1] if i + 1 < len(args) else None
        if arg in ("-m", "--model") and nxt is not None:
            model = nxt
            next(it, None)
        elif arg.startswith("--model="):
            model = arg.split("=", 1)[1]
        elif arg in ("-c", "--config") and nxt is not None:
            key, sep, value = nxt.partition("=")
            if sep and key.strip() == "model":
                model = value.strip().strip("\"'")
            next(it, None)
    return model or None


def parse_batch(lines: Iterable[str]) -> list[str]:
    """Prompts from a batch file: one per line; blank lines and ``#`` comments skipped."""
    out: list[str] = []
    for line in lines:
        text = line.strip()
        if text and not text.startswith("#"):
            out.append(text)
    return out
