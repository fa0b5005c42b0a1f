"""The contract every log importer implements, built-in or third-party."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tokenomy.capture.filestate import FileState, ReadPlan
from tokenomy.capture.problems import Problem
from tokenomy.record import CallRecord


@dataclass(slots=True)
class FileResult:
    """What one read of one file produced."""

    path: str
    records: list[CallRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # The state to save; None when the file must be read again next time (e.g. unreadable).
    state: FileState | None = None
    bytes_read: int = 0
    not_a_log: bool = False


class Importer(Protocol):
    """Reads one agent's logs. Register an implementation under the ``tokenomy.importers``
    entry-point group; the built-in ones are registered the same way."""

    name: str  # the CLI name: `tokenomy import <name>`
    source: str  # the call record's source

    def default_roots(self, env: Mapping[str, str], home: Path) -> list[Path]:
        """Where this agent writes its logs on this machine."""
        ...

    def discover(self, roots: list[Path]) -> Sequence[str | Path]:
        """Every log file under ``roots`` (path strings or paths)."""
        ...

    def parse(self, plan: ReadPlan) -> FileResult:
        """Read the new part of one file. Must not raise on bad content: report it."""
        ...
